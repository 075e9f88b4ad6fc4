"""The service's one door into ``pipeline``: load a dataset and its fitted :class:`ModelScorer` once, then read
cards, rescore a customer after new purchases and run the what-if.

Everything here delegates: the card is :func:`pipeline.customer.card.customer_profile`, real-time rescoring is
:func:`pipeline.customer.rescoring.rescore_one`, the what-if is :func:`pipeline.customer.whatif.what_if`,
the coupon is the scorer's expected-value policy. What this module adds is service plumbing: resolving
``SEGMENTS_DATASET`` to a dataset, an in-memory cache of unchanged cards, and turning API lines into canonical
transactions.

How a new or changed customer is scored: their R/F/M/tenure and features are computed from all their purchases as
of the later of the data's end and the day after their latest purchase; the 1-5 R/F/M scores and the segment
compare them with the population's values at load time (the dataset's customers are not rescored, so one
customer's purchase never moves another's scores); churn, BTYD values, cluster and coupon use the models fitted at
load time (nothing is refitted). The one exception: a churn champion promoted while the service runs
(``python -m pipeline retrain``) is swapped in by :meth:`Scorer.with_churn_model` (the service's champion watcher).
"""
from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.coupons import face_value
from pipeline.errors import DataError

__all__ = ["UnknownCustomer", "Scorer", "load_scorer", "resolve_dataset", "SCORING_NOTE"]

SCORING_NOTE = ("Scored as of the later of the data's end and the day after the customer's latest purchase or return; "
                "R/F/M scores and segment against the population's values at service start; churn, value, cluster "
                "and coupon from the models fitted at start (not refitted; a newly promoted churn champion is "
                "picked up while serving, see model_version).")


class UnknownCustomer(LookupError):
    pass


def resolve_dataset(name: str, workspace: Path | None):
    """``(Workspace or None, Dataset)`` for a saved dataset id or name, a file path (or a folder, glob, ``table:`` or
    ``jdbc:`` source, read on ``SEGMENTS_ENGINE``), or a sample key.

    A saved dataset is looked up in ``workspace`` when it is a workspace folder (it has ``datasets/``), else in every
    workspace under it (the app's ``workspace/`` root). DataError when nothing matches or a name is ambiguous.
    """
    from pipeline.store import find_saved_datasets

    if not name:
        raise DataError("dataset: none given; pass --dataset NAME_OR_FILE or set SEGMENTS_DATASET.")
    root = Path(workspace) if workspace is not None else None
    if root is not None:
        hits = find_saved_datasets(name, root)
        if len(hits) > 1:
            raise DataError(f"dataset: {name!r} names {len(hits)} saved datasets under {root}; pass the workspace "
                            "folder with --workspace or the dataset id.")
        if hits:
            ws, ds_id = hits[0]
            return ws, ws.load_dataset(ds_id)
    path = Path(name)
    from pipeline.engines.load import engine_source

    if path.is_file() or engine_source(name) is not None:   # a file; a folder, glob or table on SEGMENTS_ENGINE
        from pipeline.ingest.datasets import build_dataset

        return None, build_dataset(name if not path.is_file() else path, path.name)
    from pipeline.ingest.datasets import SAMPLES, sample_dataset

    if name in SAMPLES:
        return None, sample_dataset(name)
    raise DataError(f"dataset: {name!r} is not a saved dataset{f' under {root}' if root else ''}, a file, or a "
                    f"sample ({', '.join(SAMPLES)}).")


def load_scorer(dataset: str, workspace: Path | None, horizon_days: int | None = None,
                cache_size: int = 20_000) -> Scorer:
    """Load the dataset, its live model (``pipeline.health.live``; else the default), the saved clustering and the
    workspace's coupon catalogue, and fit the scorer."""
    from pipeline.customer.scoring import CouponSetup, ScoringSettings, build_scorer

    ws, ds = resolve_dataset(dataset, workspace)
    active = clustering = active_id = None
    catalogue = None
    serial = 0
    if ws is not None:
        from pipeline.campaign import workspace_catalogue
        from pipeline.health.registry import HealthStore

        store = HealthStore(ws, ds.id)    # the dataset's one live-model pointer, the one the app's pages read
        if ds.kind == "transactions":     # read before the model: a promotion from here on is picked up later
            serial = int(store.pointer().get("serial", 0))
        active_id = store.champion_id()
        active = store.load_champion()
        clustering = ws.load_clustering(ds.id)
        catalogue, _warning = workspace_catalogue(ws)
    settings = ScoringSettings(horizon_days=horizon_days) if horizon_days else ScoringSettings()
    if ws is not None:          # a saved dataset: fitted once per version, then read back (the app shares it)
        from pipeline.customer.scorer_store import ensure_scorer

        scorer = ensure_scorer(ws, ds.id, ds, settings=settings, coupons=CouponSetup.load(catalogue),
                               active=active, clustering=clustering)
    else:
        scorer = build_scorer(ds, settings=settings, coupons=CouponSetup.load(catalogue), active=active,
                              clustering=clustering)
    return Scorer(ds.id, scorer, cache_size, workspace=ws, champion_serial=serial,
                  churn_version=_churn_version(scorer, active, active_id, ds.id))


def _churn_version(model, active, active_id: str | None, dataset_id: str) -> str | None:
    """Which churn model a scorer serves: ``v<N>`` (a version of this dataset's champion/challenger registry), the
    Model-lab id of another saved model, ``default`` (the default model), ``bgnbd`` (no churn model), None for a
    customer table."""
    if model.kind != "transactions":
        return None
    churn = model.decisions.churn
    if churn is None:
        return "bgnbd"
    if churn.source == "default" or active is None:
        return churn.source or "default"
    extra = active[1].extra
    if extra.get("version") and (extra.get("dataset") or {}).get("id") == dataset_id:
        return str(extra["version"])
    return active_id or active[1].model_key


@dataclass(frozen=True)
class _Line:
    date: pd.Timestamp
    amount: float
    quantity: float | None
    unit_price: float | None
    invoice_id: str
    product_id: str | None


class Scorer:
    """The loaded dataset's scorer with a per-process cache of unchanged cards (thread-safe; read-only model).

    Never changed in place: a new churn champion gives a new Scorer (:meth:`with_churn_model`, empty cache) that the
    service puts in place with one assignment, so a request sees one model from start to end.

    ``workspace``: the saved dataset's workspace (None for a file or a sample); ``champion_serial``: the champion
    pointer's serial read before the model was loaded (where :meth:`champion_watcher` starts); ``churn_version``:
    which churn model is served (see :func:`_churn_version`).
    """

    def __init__(self, dataset_id: str, model, cache_size: int = 20_000, *, workspace=None, champion_serial: int = 0,
                 churn_version: str | None = None) -> None:
        self.dataset_id = dataset_id
        self.model = model
        self.workspace = workspace
        self.champion_serial = champion_serial
        self.churn_version = churn_version if churn_version is not None else _churn_version(model, None, None,
                                                                                            dataset_id)
        self._cache: OrderedDict[str, dict] = OrderedDict()
        self._cache_size = cache_size
        self._erased: set[str] = set()          # erased while serving: unknown from then on (until a reload)
        self._lock = threading.Lock()
        self.info = self._info()
        self.version = hashlib.sha256(json.dumps(self.info, sort_keys=True).encode()).hexdigest()[:12]

    # ---- facts ------------------------------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        return self.model.kind

    @property
    def n_customers(self) -> int:
        return len(self.model.table)

    def _info(self) -> dict:
        m = self.model
        decided = m.decisions
        churn = (decided.churn if decided is not None else None) or m.model
        return {"dataset_id": self.dataset_id, "dataset": m.dataset_name, "kind": m.kind,
                "customers": len(m.table),
                "as_of": str(m.history.as_of.date()) if m.history is not None else None,
                "churn_model": getattr(churn, "label", "BG/NBD" if m.kind == "transactions" else ""),
                "churn_model_source": getattr(churn, "source", ""),
                "churn_model_version": self.churn_version,
                "churn_risk": decided.risk.to_json() if decided else None,   # model or the rule that beat it
                "clustering": getattr(m.clusters, "source", ""),
                "horizon_days": m.settings.horizon_days}

    def knows(self, customer_id: str) -> bool:
        return customer_id in self.model.table.index and customer_id not in self._erased

    def forget(self, customer_id: str) -> None:
        """Treat an erased customer as unknown from now on (their cached card dropped); the fitted models still
        hold them until the scorer is loaded again from the erased dataset (``DELETE /customers/{id}`` does)."""
        with self._lock:
            self._erased.add(customer_id)
            self._cache.pop(customer_id, None)

    # ---- the churn champion -----------------------------------------------------------------------------------
    def champion_watcher(self):
        """A :class:`pipeline.health.registry.ChampionWatcher` of this dataset's champion pointer starting at the
        serial seen at load; None unless the dataset is a saved transactions dataset."""
        if self.workspace is None or self.kind != "transactions":
            return None
        from pipeline.health.registry import ChampionWatcher

        watcher = ChampionWatcher(self.workspace, self.dataset_id)
        watcher.serial = self.champion_serial
        return watcher

    def with_churn_model(self, pipeline, meta, serial: int | None = None) -> Scorer:
        """A new Scorer serving churn model ``pipeline`` (a promoted champion; everything else shared, the card
        cache empty): :func:`pipeline.health.retrain.with_churn_model`. Slow (every customer is rescored): call it
        off the event loop."""
        from pipeline.health.retrain import with_churn_model

        new = Scorer(self.dataset_id, with_churn_model(self.model, pipeline, meta), self._cache_size,
                     workspace=self.workspace, champion_serial=self.champion_serial if serial is None else serial,
                     churn_version=str(meta.extra.get("version") or meta.model_key))
        new._erased = set(self._erased)
        return new

    # ---- cards ------------------------------------------------------------------------------------------------
    def card(self, customer_id: str) -> dict:
        """The card of a dataset customer as loaded (cached). UnknownCustomer when the id is not in the data."""
        with self._lock:
            hit = self._cache.get(customer_id) if customer_id not in self._erased else None
            if hit is not None:
                self._cache.move_to_end(customer_id)
                return hit
        if not self.knows(customer_id):
            raise UnknownCustomer(customer_id)
        card = self._card(self.model, customer_id, api_lines=0)
        with self._lock:
            self._cache[customer_id] = card
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return card

    def _card(self, model, customer_id: str, api_lines: int) -> dict:
        from pipeline.customer.card import customer_profile

        card = customer_profile(model, customer_id, timeline=False).to_json()
        as_of = model.history.as_of if model.history is not None else None     # a rescored copy: the customer's
        card |= {"as_of": None if as_of is None else str(as_of.date()), "api_transactions": api_lines,
                 "source": "dataset" if not api_lines else ("dataset+api" if self.knows(customer_id) else "api"),
                 "scoring": SCORING_NOTE, "model_version": self.version}
        return card

    def rescore(self, customer_id: str, lines: Sequence[Mapping]) -> dict:
        """The card after all of a customer's API purchases and returns (``lines``: stored rows as dicts; a
        negative amount is a return, counted in the card's return count and rate)."""
        if self.kind != "transactions":
            raise DataError("transactions: this dataset is a customer table without purchases; POST transactions "
                            "needs a transactions dataset.")
        purchases = [ln for ln in lines if ln["amount"] > 0]
        returns = [ln for ln in lines if ln["amount"] < 0]
        if not purchases and not self.knows(customer_id):
            _only_returns(customer_id, len(lines))
        from pipeline.customer.rescoring import rescore_one

        model = rescore_one(self.model, customer_id, _canonical(customer_id, purchases) if purchases else None,
                            _canonical(customer_id, returns, magnitudes=True) if returns else None)
        return self._card(model, customer_id, api_lines=len(lines))

    # ---- what-if and coupons ------------------------------------------------------------------------------------
    def what_if_fields(self) -> dict[str, dict]:
        from pipeline.customer.whatif import what_if_inputs

        return {spec["name"]: spec for spec in what_if_inputs(self.model)}

    def what_if(self, inputs: Mapping[str, object], customer_id: str | None) -> dict:
        from pipeline.customer.whatif import what_if
        from pipeline.exports import to_jsonable

        if customer_id is not None and not self.knows(customer_id):
            raise UnknownCustomer(customer_id)
        res = what_if(self.model, dict(inputs), customer_id)
        out = {k: getattr(res, k) for k in ("inputs", "segment", "scores", "cluster", "cluster_name",
                                             "cluster_label", "churn_probability", "risk_band", "churn_source", "churn_basis",
                                             "value", "coupon", "prediction", "learned_coupon", "notes")}
        out["drivers"] = res.drivers.to_dict(orient="records")
        out["value"] = {k: (str(v.date()) if isinstance(v, pd.Timestamp) else v) for k, v in (out["value"] or {})
                        .items()}
        return to_jsonable(out | {"kind": self.kind, "model_version": self.version})

    def offer(self, card: Mapping) -> dict | None:
        """The card's recommended coupon with its money value (counted against a campaign's ``max_value``) and
        minimum spend; None when the card recommends no coupon."""
        coupon = card.get("coupon") or {}
        cat = self.model.coupons.catalogue
        row = cat[cat["id"].astype(str) == str(coupon.get("coupon_id"))]
        if not coupon or row.empty or row["kind"].iloc[0] == "none":
            return {"coupon_id": None, "reason": coupon.get("reason") or "The policy recommends no coupon.",
                    "expected_value": coupon.get("expected_value")}
        r = row.iloc[0]
        order_value = float((card.get("habits") or {}).get("avg_order_value") or 0.0)
        return {"coupon_id": str(r["id"]), "coupon_name": str(r["name"]), "reason": coupon.get("reason", ""),
                "expected_value": coupon.get("expected_value"), "min_spend": float(r.get("min_spend") or 0.0),
                "value": face_value(str(r["kind"]), float(r["value"]), float(r.get("min_spend") or 0.0),
                                    order_value)}


def _only_returns(customer_id: str, n: int) -> dict:
    raise DataError(f"transactions: customer {customer_id!r} has only returns ({n} lines) and no purchase; a new "
                    "customer needs at least one purchase (amount > 0).")


def _canonical(customer_id: str, lines: Sequence[Mapping], magnitudes: bool = False) -> pd.DataFrame:
    """API lines as canonical cleaned transactions (``pipeline.config.TX_COLUMNS``); ``magnitudes``: amounts and
    quantities as positive numbers (how ``pipeline.ingest`` stores returns)."""
    from pipeline.config import TX_COLUMNS

    df = pd.DataFrame({
        "customer_id": customer_id,
        "invoice_id": [str(ln["invoice_id"]) for ln in lines],
        "date": pd.to_datetime([ln["date"] for ln in lines]),
        "quantity": [np.nan if ln.get("quantity") is None else float(ln["quantity"]) for ln in lines],
        "unit_price": [np.nan if ln.get("unit_price") is None else float(ln["unit_price"]) for ln in lines],
        "amount": [float(ln["amount"]) for ln in lines],
        "product_id": [ln.get("product_id") for ln in lines],
    })
    for col in TX_COLUMNS:
        if col not in df:
            df[col] = None
    if magnitudes:
        df[["quantity", "amount"]] = df[["quantity", "amount"]].abs()
    return df[list(TX_COLUMNS)]
