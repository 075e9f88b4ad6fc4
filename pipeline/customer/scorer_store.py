"""A fitted customer scorer kept in the workspace: fitted once per dataset version, loaded in about a second after.

:func:`pipeline.customer.scoring.build_scorer` costs tens of seconds on a few thousand customers (the churn model on
stacked cutoffs, the graded forecasts, the recommender, the card index); a card costs milliseconds. This module
saves the fitted pieces of a transactions scorer next to its dataset and rebuilds the
:class:`~pipeline.customer.scoring.ModelScorer` from them:

    <workspace>/datasets/<id>/scorer/<fingerprint[:16]>/
        manifest.json        format, fingerprint, sha-256 of every file, and the JSON pieces (settings, currency,
                             notes, grades, recency rule, BG/NBD, churn-model description, forecasts' scalars,
                             clustering, recommender shape, card-index layout)
        table.parquet        the per-customer table
        churn/               the churn pipeline (pipeline.models.persist.save_model)
        *.skops              the forecasts' gradient-boosting models, the clustering's transformer and names
        rec_weights.npz      the recommender's customer x item matrix (its similarity is recomputed when needed)
        *.parquet            recommender ids and maps, the card index's driver and item tables

The folder name is the **fingerprint** (:func:`scorer_fingerprint`): the dataset's content hash, the horizon and
seed, the segment rules, the live model, the saved clustering, the configuration dataclasses, the library versions,
the ``pipeline`` package's source and :data:`SCORER_FORMAT`. Any change gives another folder, so a stale scorer is
never read. Loading never unpickles (JSON, parquet, ``npz`` without pickles, skops with the allow-list of
:mod:`pipeline.models.persist`); a missing, damaged, tampered or refused piece makes :func:`load_scorer` return None
and :func:`ensure_scorer` build (and save) the scorer again. Cheap parts are recomputed at load rather than stored:
the churn decision and the card's facts (from the grades, the churn model and the recency rule), the purchase
history's positions, the score population, the typical customer and the card index's coupons.

Belongs here: what is saved, the fingerprint, load-or-build. What is fitted stays in :mod:`pipeline.customer.scoring`.
Customer tables (no purchases) are cheap to score and are not stored.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from pipeline.errors import DataError
from pipeline.recommend import ItemRecommender, item_similarity

if TYPE_CHECKING:
    from pipeline.customer.index import CardIndex, Slices
    from pipeline.customer.parts import CouponSetup, ScoringSettings
    from pipeline.customer.scoring import ActiveModel, ModelScorer, SavedClustering
    from pipeline.store import Dataset, Workspace

__all__ = ["SCORER_FORMAT", "KEEP", "scorer_fingerprint", "save_scorer", "load_scorer", "ensure_scorer",
           "StoredRecommender"]

log = logging.getLogger(__name__)

#: Bumped whenever what is saved, or how it is read, changes (2: the scorer's decisions and card index are built
#: with it, immutable; a folder of another format is fitted again).
SCORER_FORMAT = 2
#: Bundles kept per dataset (the newest by modification time).
KEEP = 3
MANIFEST = "manifest.json"


# ----------------------------------------------------------------------------------------------- fingerprint

@functools.lru_cache(maxsize=1)
def _code_hash() -> str:
    """SHA-256 of the ``pipeline`` package's source: fitted pieces are not reused across code changes."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _rules_hash(rules: pd.DataFrame | None) -> str:
    from pipeline.rfm import load_segment_rules

    return hashlib.sha256(load_segment_rules(rules).to_json(orient="records").encode()).hexdigest()


def _active_signature(active: ActiveModel | None) -> Any:
    if active is None:
        return None
    meta = active[1]
    return {"model_key": meta.model_key, "target": meta.target, "data_hash": meta.data_hash, "created": meta.created,
            "features": sorted(meta.features), "extra": meta.extra}


def _clustering_signature(clustering: SavedClustering | None) -> Any:
    if clustering is None:
        return None
    assignments, meta = clustering
    cols = [c for c in ("customer_id", "cluster", "cluster_name", "name") if c in assignments]
    labels = pd.util.hash_pandas_object(assignments[cols].astype(str), index=False).to_numpy().tobytes()
    return {"meta": json.loads(json.dumps(meta, sort_keys=True, default=str)), "rows": len(assignments),
            "labels": hashlib.sha256(labels).hexdigest()}


def scorer_fingerprint(dataset_hash: str, settings: ScoringSettings, rules: pd.DataFrame | None = None,
                       active: ActiveModel | None = None, clustering: SavedClustering | None = None) -> str:
    """SHA-256 naming one fitted scorer: everything :func:`~pipeline.customer.scoring.build_scorer` reads
    (``dataset_hash``: :meth:`pipeline.store.Workspace.dataset_content_hash`) and everything that changes how it
    fits (configuration defaults, library versions, the package's code, :data:`SCORER_FORMAT`)."""
    from pipeline import config
    from pipeline.models.persist import library_versions

    configs = {name: dataclasses.asdict(getattr(config, name)())
               for name in ("SliceConfig", "SpendConfig", "NextOrderConfig", "ValueConfig", "ChurnDataConfig",
                            "BTYDConfig", "ClusterConfig", "ChurnConfig", "RFMConfig")
               if hasattr(config, name)}
    doc = {"format": SCORER_FORMAT, "dataset": dataset_hash, "settings": dataclasses.asdict(settings),
           "rules": _rules_hash(rules), "active": _active_signature(active),
           "clustering": _clustering_signature(clustering), "config": configs, "versions": library_versions(),
           "code": _code_hash()}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, default=str).encode()).hexdigest()


# ----------------------------------------------------------------------------------------------- recommender

class StoredRecommender(ItemRecommender):
    """An :class:`~pipeline.recommend.ItemRecommender` rebuilt from its saved customer x item matrix: its item x
    item similarity (tens of MB on a product catalogue) is recomputed on first use (a rescored customer's next
    items), never stored. Everything else reads as the fitted recommender."""

    @property
    def similarity_(self) -> sp.csr_matrix:
        if self.__dict__.get("_similarity") is None:
            self.__dict__["_similarity"] = item_similarity(self.bought_)
        return self.__dict__["_similarity"]

    @similarity_.setter
    def similarity_(self, value: sp.csr_matrix) -> None:
        self.__dict__["_similarity"] = value

    @classmethod
    def from_parts(cls, params: Mapping[str, Any], item_col: str, weights: sp.csr_matrix, customers: pd.Index,
                   items: pd.Index, names: pd.Series, categories: pd.Series) -> StoredRecommender:
        rec = cls(**params)
        rec.item_col_, rec.customers_, rec.items_ = item_col, customers, items
        rec.weights_ = weights.tocsr()
        rec.bought_ = rec.weights_.copy()
        rec.bought_.data[:] = 1.0
        rec.popularity_ = np.asarray(rec.bought_.sum(axis=0)).ravel()
        rec.item_names_, rec.item_categories_ = names, categories
        return rec


def _series_frame(s: pd.Series) -> pd.DataFrame:
    return pd.DataFrame({"key": s.index.astype(str), "value": s.astype(str).to_numpy()})


def _frame_series(df: pd.DataFrame) -> pd.Series:
    if df.empty:
        return pd.Series(dtype=object)
    return pd.Series(df["value"].to_numpy(dtype=object), index=pd.Index(df["key"].to_numpy(dtype=object)),
                     dtype=object)


def _save_recommender(rec: ItemRecommender, d: Path) -> dict:
    sp.save_npz(d / "rec_weights.npz", rec.weights_.tocsr(), compressed=False)
    pd.DataFrame({"customer_id": rec.customers_.astype(str)}).to_parquet(d / "rec_customers.parquet", index=False)
    pd.DataFrame({"item": rec.items_.astype(str)}).to_parquet(d / "rec_items.parquet", index=False)
    _series_frame(rec.item_names_).to_parquet(d / "rec_names.parquet", index=False)
    _series_frame(rec.item_categories_).to_parquet(d / "rec_categories.parquet", index=False)
    return {"params": rec.get_params(), "item_col": rec.item_col_,
            "names_dtype": str(rec.item_names_.dtype), "categories_dtype": str(rec.item_categories_.dtype)}


def _load_recommender(doc: Mapping, d: Path) -> StoredRecommender:
    weights = sp.load_npz(d / "rec_weights.npz")            # numpy.load(allow_pickle=False) inside
    customers = pd.Index(pd.read_parquet(d / "rec_customers.parquet")["customer_id"].to_numpy(dtype=object))
    items = pd.Index(pd.read_parquet(d / "rec_items.parquet")["item"].to_numpy(dtype=object))
    if weights.shape != (len(customers), len(items)):
        raise DataError("stored recommender: its matrix does not match its customers and items.")
    names = _frame_series(pd.read_parquet(d / "rec_names.parquet"))
    cats = _frame_series(pd.read_parquet(d / "rec_categories.parquet"))
    return StoredRecommender.from_parts(doc["params"], doc["item_col"], weights, customers, items, names, cats)


# ----------------------------------------------------------------------------------------------- card index

def _write_frame(frame: pd.DataFrame, path: Path, index: bool = True) -> dict:
    """Write ``frame`` as parquet; returns what parquet does not keep: which columns (and index) hold Python
    objects (read back as text otherwise)."""
    frame.to_parquet(path, index=index)
    return {"object": [str(c) for c in frame.columns if frame[c].dtype == object],
            "index_object": bool(index and frame.index.dtype == object)}


def _read_frame(path: Path, spec: Mapping) -> pd.DataFrame:
    frame = pd.read_parquet(path)
    cols = [c for c in spec.get("object", []) if c in frame.columns]
    if cols:
        frame = frame.astype({c: object for c in cols})
    if spec.get("index_object"):
        frame.index = frame.index.astype(object)
    return frame


def _empty_spec(frame: pd.DataFrame) -> list[list[str]]:
    return [[str(c), str(t)] for c, t in frame.dtypes.items()]


def _empty_frame(spec: list) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in spec})


def _save_slices(s: Slices, d: Path, name: str) -> dict:
    keys = np.empty(len(s.table), dtype=object)
    for k, a in s.start.items():
        keys[a:s.stop[k]] = k
    spec = _write_frame(s.table.assign(__key=keys), d / f"{name}.parquet", index=False)
    return {"file": f"{name}.parquet", "spec": spec, "empty": _empty_spec(s.empty),
            "fallback": _save_slices(s.fallback, d, f"{name}_fallback") if s.fallback is not None else None}


def _load_slices(doc: Mapping, d: Path) -> Slices:
    from pipeline.customer.index import Slices

    table = _read_frame(d / doc["file"], doc["spec"])
    fallback = _load_slices(doc["fallback"], d) if doc.get("fallback") else None
    return Slices.of(table, "__key", _empty_frame(doc["empty"]), fallback)


_FRAMES = ("driver_inputs", "driver_values", "contributions")
_SLICES = ("top_categories", "top_products", "next_items")


def _save_index(index: CardIndex, d: Path) -> dict:
    doc: dict[str, Any] = {"attrs": {}, "specs": {}}
    for name in _FRAMES:
        frame = getattr(index, name)
        if frame is not None:
            doc["specs"][name] = _write_frame(frame, d / f"ix_{name}.parquet")
            doc["attrs"][name] = json.loads(json.dumps(frame.attrs, default=str))
    for name in _SLICES:
        s = getattr(index, name)
        doc[name] = _save_slices(s, d, f"ix_{name}") if s is not None else None
    return doc


def _load_index(doc: Mapping, d: Path, table: pd.DataFrame, coupons: CouponSetup, facts,
                recommender) -> CardIndex:
    from pipeline.customer.index import CardIndex, coupon_part

    parts: dict[str, Any] = {}
    for name in _FRAMES:
        if name in doc["attrs"]:
            parts[name] = _read_frame(d / f"ix_{name}.parquet", doc["specs"][name])
            parts[name].attrs.update(doc["attrs"][name])
    for name in _SLICES:
        if doc.get(name):
            parts[name] = _load_slices(doc[name], d)
    # the coupons are cheap, and tied to the coupon rules this scorer is given
    return CardIndex(table.index, coupons, **parts, **coupon_part(table, coupons, facts, recommender))


# ----------------------------------------------------------------------------------------------- churn model

_CLASSIFIER_FIELDS = ("features", "class_labels", "target", "label", "source", "description", "reference",
                      "positive_index", "metrics", "bounds")


def _save_churn(churn, table: pd.DataFrame, d: Path) -> dict:
    from datetime import datetime, timezone

    from pipeline.exports import to_jsonable
    from pipeline.models.persist import ModelMetadata, library_versions, save_model

    doc = to_jsonable({f: getattr(churn, f) for f in _CLASSIFIER_FIELDS})
    features = {c: {"dtype": str(table[c].dtype) if c in table else "?",
                    "kind": "numeric" if c in table and pd.api.types.is_numeric_dtype(table[c]) else "categorical"}
                for c in churn.features}
    meta = ModelMetadata("churn", churn.label, churn.target, features, doc["class_labels"], {}, "",
                         library_versions(), datetime.now(timezone.utc).isoformat(timespec="seconds"),
                         doc["reference"] or {}, {"kind": "churn"})
    save_model(churn.pipeline, meta, d / "churn")
    return doc


def _load_churn(doc: Mapping, d: Path):
    from pipeline.customer.classifier import FittedClassifier
    from pipeline.models.persist import load_model

    pipe, _ = load_model(d / "churn")
    kw = {f: doc[f] for f in _CLASSIFIER_FIELDS}
    kw["bounds"] = {c: (float(lo), float(hi)) for c, (lo, hi) in (kw["bounds"] or {}).items()}
    kw["reference"], kw["metrics"] = dict(kw["reference"] or {}), dict(kw["metrics"] or {})
    return FittedClassifier(pipe, list(kw.pop("features")), list(kw.pop("class_labels")), **kw)


# ----------------------------------------------------------------------------------------------- save / load

def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def save_scorer(scorer: ModelScorer, folder: str | Path, fingerprint: str) -> Path:
    """Write a transactions scorer's fitted pieces into ``folder`` (atomically: a temporary sibling folder is
    renamed into place); returns the folder. Raises DataError for a customer-table scorer."""
    from pipeline.exports import to_jsonable
    from pipeline.models.persist import save_object

    if scorer.history is None or scorer.decisions is None:
        raise DataError("save_scorer: only a transactions scorer is stored (a customer table is cheap to score).")
    folder, decided = Path(folder), scorer.decisions
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=".tmp", dir=folder.parent))
    try:
        table_spec = _write_frame(scorer.table, tmp / "table.parquet")
        doc: dict[str, Any] = {
            "table": table_spec,
            "format": SCORER_FORMAT, "fingerprint": fingerprint, "dataset_name": scorer.dataset_name,
            "settings": dataclasses.asdict(scorer.settings), "currency": scorer.coupons.policy.currency,
            "notes": list(scorer.notes), "as_of": str(pd.Timestamp(scorer.history.as_of)),
            "btyd": scorer.history.btyd.to_dict(),
            "grades": decided.grades.to_json() if decided.grades is not None else None,
            "recency": decided.risk.recency.to_dict() if decided.risk.recency is not None else None,
            "churn": _save_churn(decided.churn, scorer.table, tmp) if decided.churn is not None else None,
        }
        fc = decided.forecasts
        if fc.spend is not None:
            doc["spend"] = fc.spend.to_dict()
            for m in fc.spend.MODELS:
                if getattr(fc.spend, m) is not None:
                    save_object(getattr(fc.spend, m), tmp / f"spend_{m}.skops")
        if fc.next_order is not None:
            doc["next_order"] = fc.next_order.to_dict()
            save_object(fc.next_order.model, tmp / "next_order.skops")
        if scorer.clusters is not None:
            doc["clusters"] = scorer.clusters.to_dict()
            for part in ("transformer", "naming"):
                if getattr(scorer.clusters, part) is not None:
                    save_object(getattr(scorer.clusters, part), tmp / f"cluster_{part}.skops")
        if scorer.recommender is not None:
            doc["recommender"] = _save_recommender(scorer.recommender, tmp)
        if scorer.index is not None:
            doc["index"] = _save_index(scorer.index, tmp)
        doc["files"] = {str(p.relative_to(tmp)): _sha(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
        (tmp / MANIFEST).write_text(json.dumps(to_jsonable(doc), indent=1, allow_nan=False))
        if folder.exists():
            shutil.rmtree(folder)
        tmp.rename(folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def _manifest(folder: Path, fingerprint: str) -> dict:
    try:
        doc = json.loads((folder / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"'{folder}' holds no readable scorer manifest ({exc}).") from exc
    if not isinstance(doc, dict) or doc.get("format") != SCORER_FORMAT or doc.get("fingerprint") != fingerprint:
        raise DataError(f"'{folder}' was written for another format or dataset version.")
    files = doc.get("files")
    if not isinstance(files, dict) or "table.parquet" not in files:
        raise DataError(f"'{folder}' lists no files.")
    for name, digest in files.items():
        path = folder / name
        if Path(name).is_absolute() or ".." in Path(name).parts or not path.is_file() or _sha(path) != digest:
            raise DataError(f"'{folder}': the piece {name!r} is missing or changed since it was saved.")
    return doc


def _load(folder: Path, dataset: Dataset, fingerprint: str, coupons: CouponSetup | None,
          rules: pd.DataFrame | None) -> ModelScorer:
    from pipeline.clv import BTYDModel
    from pipeline.customer.clusters import ClusterAssigner
    from pipeline.customer.facts import card_facts, churn_risk
    from pipeline.grading import RecencyRule
    from pipeline.customer.forecasts import Forecasts
    from pipeline.customer.parts import (CouponSetup, Decisions, PurchaseHistory, ScorePopulation, ScoringSettings,
                                         positions)
    from pipeline.customer.scoring import ModelScorer, _typical
    from pipeline.models.persist import load_object
    from pipeline.value import ValueGrades

    doc = _manifest(folder, fingerprint)
    table = _read_frame(folder / "table.parquet", doc["table"])
    settings = ScoringSettings(**doc["settings"])
    h = settings.horizon_days
    coupons = (coupons or CouponSetup.load()).in_unit(doc["currency"])
    churn = _load_churn(doc["churn"], folder) if doc.get("churn") else None
    grades = ValueGrades.from_json(doc["grades"]) if doc.get("grades") else None
    recency = RecencyRule.from_dict(doc["recency"]) if doc.get("recency") else None
    btyd = BTYDModel.from_dict(doc["btyd"])
    risk = churn_risk(grades, churn, h, recency)
    facts = card_facts(grades, btyd, churn, table, h, risk=risk)
    spend = nxt = None
    if doc.get("spend"):
        from pipeline.predict.spend import SpendForecast

        spend = SpendForecast.from_dict(doc["spend"], {m: load_object(folder / f"spend_{m}.skops")
                                                       for m in SpendForecast.MODELS
                                                       if (folder / f"spend_{m}.skops").is_file()})
    if doc.get("next_order"):
        from pipeline.predict.next_order import NextOrderForecast

        nxt = NextOrderForecast.from_dict(doc["next_order"], load_object(folder / "next_order.skops"))
    clusters = None
    if doc.get("clusters"):
        parts = {p: load_object(folder / f"cluster_{p}.skops") if (folder / f"cluster_{p}.skops").is_file() else None
                 for p in ("transformer", "naming")}
        clusters = ClusterAssigner.from_dict(doc["clusters"], parts["transformer"], parts["naming"])
    recommender = _load_recommender(doc["recommender"], folder) if doc.get("recommender") else None
    tx = dataset.transactions
    history = PurchaseHistory(tx, dataset.returns, positions(tx), pd.Timestamp(doc["as_of"]), btyd,
                              ScorePopulation.of(table, rules), positions(dataset.returns))
    index = _load_index(doc["index"], folder, table, coupons, facts, recommender) if doc.get("index") else None
    return ModelScorer(dataset.name, table, _typical(table), settings, coupons, clusters, recommender, history,
                       Decisions(risk, facts, Forecasts(spend, nxt), grades, churn), index, notes=doc["notes"])


def load_scorer(folder: str | Path, dataset: Dataset, fingerprint: str, *, coupons: CouponSetup | None = None,
                rules: pd.DataFrame | None = None) -> ModelScorer | None:
    """The scorer saved in ``folder`` by :func:`save_scorer` for ``fingerprint``, over ``dataset``'s lines; None
    when the folder is absent, incomplete, damaged, written for another fingerprint or format, or holds a type the
    allow-list refuses (the caller then builds it again). ``coupons``: the coupon rules (default as
    ``build_scorer``'s; put in the dataset's unit); ``rules``: the segment rules it was fitted with."""
    folder = Path(folder)
    if not (folder / MANIFEST).is_file():
        return None
    try:
        return _load(folder, dataset, fingerprint, coupons, rules)
    except Exception as exc:           # any damage means "build again", never a broken page
        log.warning("stored scorer in %s not used: %s", folder, exc)
        return None


def _prune(parent: Path, keep: int = KEEP) -> None:
    """Keep the ``keep`` newest bundles (and no leftover temporary folders)."""
    if not parent.is_dir():
        return
    for p in parent.iterdir():
        if p.name.startswith(".") and p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
    bundles = sorted((p for p in parent.iterdir() if p.is_dir() and not p.name.startswith(".")),
                     key=lambda p: p.stat().st_mtime, reverse=True)
    for old in bundles[keep:]:
        shutil.rmtree(old, ignore_errors=True)


def ensure_scorer(ws: Workspace, dataset_id: str, dataset: Dataset | None = None, *,
                  settings: ScoringSettings | None = None, rules: pd.DataFrame | None = None,
                  active: ActiveModel | None = None, clustering: SavedClustering | None = None,
                  coupons: CouponSetup | None = None) -> ModelScorer:
    """The scorer of a saved dataset: loaded from the workspace when one was fitted for this exact version and
    these inputs, else built by :func:`~pipeline.customer.scoring.build_scorer` and saved for next time (a save
    that fails is logged, the built scorer returned). Arguments as ``build_scorer``'s; ``dataset``: the loaded
    dataset (read from ``ws`` when None)."""
    from pipeline.customer.parts import ScoringSettings
    from pipeline.customer.scoring import build_scorer

    settings = settings or ScoringSettings()
    dataset = dataset if dataset is not None else ws.load_dataset(dataset_id)
    build = functools.partial(build_scorer, dataset, settings=settings, coupons=coupons, rules=rules,
                              active=active, clustering=clustering)
    if dataset.kind != "transactions":
        return build()
    fp = scorer_fingerprint(ws.dataset_content_hash(dataset_id), settings, rules, active, clustering)
    folder = ws.scorer_dir(dataset_id) / fp[:16]
    scorer = load_scorer(folder, dataset, fp, coupons=coupons, rules=rules)
    if scorer is not None:
        return scorer
    scorer = build()
    try:
        save_scorer(scorer, folder, fp)
        _prune(folder.parent)
    except Exception as exc:            # a full disk or a piece skops cannot write: serve the built scorer
        log.warning("scorer for %s not saved: %s", dataset_id, exc)
    return scorer
