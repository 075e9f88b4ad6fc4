"""The scorer kept in the workspace (pipeline.customer.scorer_store): a loaded scorer gives the same cards, what-ifs
and rescoring as the one fitted; anything damaged, refused or written for other inputs is not used (the scorer is
built again); the fingerprint follows every input."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from pipeline import customer as pf
from pipeline.customer import scorer_store as ss
from pipeline.customer.whatif import what_if
from pipeline.ingest import generate_transactions
from pipeline.store import Dataset, Workspace


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A saved dataset, its scorer as fitted, and a second scorer whose churn model wins (drivers on the card)."""
    root = tmp_path_factory.mktemp("ws")
    tx, ret = generate_transactions(n_customers=400, seed=3)
    ws = Workspace("w", root=root)
    ws.save_dataset(Dataset("t400", "synthetic 400", "transactions", transactions=tx, returns=ret))
    ds = ws.load_dataset("t400")
    built = pf.build_scorer(ds)
    winner = dataclasses.replace(built.decisions.churn, metrics={"roc_auc": 0.99})     # the default model, made to win
    with_model = built.with_churn(winner, built.table)
    return {"ws": ws, "ds": ds, "built": built, "with_model": with_model}


def _round_trip(scorer, ds, folder, fp="f" * 64):
    ss.save_scorer(scorer, folder, fp)
    return ss.load_scorer(folder, ds, fp)


def _same_what_if(a, b):
    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, pd.DataFrame):
            pd.testing.assert_frame_equal(x, y)
        else:
            assert x == y, f.name


@pytest.mark.parametrize("which", ["built", "with_model"])
def test_loaded_scorer_gives_the_same_cards_and_what_ifs(saved, which, tmp_path):
    a = saved[which]
    b = _round_trip(a, saved["ds"], tmp_path / "bundle")
    assert b is not None and isinstance(b.recommender, ss.StoredRecommender)
    assert b.decisions.risk.source == a.decisions.risk.source and (which == "built" or b.decisions.risk.uses_model)
    pd.testing.assert_frame_equal(a.table, b.table)
    if which == "built":        # (with_churn keeps the typical customer it had; build_scorer's is the table's)
        pd.testing.assert_series_equal(a.typical, b.typical)
        _same_what_if(what_if(a, {"frequency": 2}), what_if(b, {"frequency": 2}))
    fa, fb = a.decisions.facts, b.decisions.facts
    assert fb.to_json() == fa.to_json() and fb.segment_churn == fa.segment_churn
    assert (b.decisions.facts.again_source, b.decisions.facts.spend_source, b.decisions.facts.next_source) == \
        (a.decisions.facts.again_source, a.decisions.facts.spend_source, a.decisions.facts.next_source)
    ids = list(a.table.index[:12]) + list(a.table.index[a.table["frequency"] >= 3][:4])
    for cid in ids:
        ca, cb = pf.customer_profile(a, cid), pf.customer_profile(b, cid)
        assert ca.to_json() == cb.to_json(), cid
        pd.testing.assert_frame_equal(ca.drivers, cb.drivers)
    for cid in ids[:5]:
        _same_what_if(what_if(a, {"recency_days": 12, "frequency": 4, "monetary": 350.0}, cid),
                      what_if(b, {"recency_days": 12, "frequency": 4, "monetary": 350.0}, cid))
        _same_what_if(what_if(a, {}, cid), what_if(b, {}, cid))


def test_rescoring_works_on_a_loaded_scorer(saved, tmp_path):
    a = saved["built"]
    b = _round_trip(a, saved["ds"], tmp_path / "bundle")
    cid = str(a.table.index[5])
    new = pd.DataFrame({"customer_id": [cid, "NEW-1"], "invoice_id": ["N1", "N2"],
                        "date": [a.history.as_of, a.history.as_of], "quantity": [1.0, 2.0],
                        "unit_price": [80.0, 15.0], "amount": [80.0, 30.0],
                        "product_id": [a.history.transactions["product_id"].iloc[0]] * 2,
                        "product_name": ["x", "y"], "category": [a.history.transactions["category"].iloc[0]] * 2,
                        "country": [None, None]})
    for who in (cid, "NEW-1"):
        ra, rb = pf.rescore(a, who, new[new["customer_id"] == who]), pf.rescore(b, who, new[new["customer_id"] == who])
        assert pf.customer_profile(ra, who).to_json() == pf.customer_profile(rb, who).to_json()
    assert b.recommender.top_k(cid, 3).equals(a.recommender.top_k(cid, 3))     # similarity recomputed on demand


def test_ensure_scorer_builds_once_then_loads(saved, monkeypatch):
    ws, ds, built = saved["ws"], saved["ds"], saved["built"]
    calls = []
    monkeypatch.setattr("pipeline.customer.scoring.build_scorer", lambda *a, **k: calls.append(1) or built)
    first = ss.ensure_scorer(ws, "t400", ds)
    second = ss.ensure_scorer(ws, "t400", ds)
    assert first is built and len(calls) == 1 and second is not built
    cid = built.table.index[0]
    assert pf.customer_profile(second, cid).to_json() == pf.customer_profile(built, cid).to_json()
    assert len([p for p in ws.scorer_dir("t400").iterdir() if not p.name.startswith(".")]) == 1


def _bundle(saved, tmp_path):
    folder = tmp_path / "bundle"
    ss.save_scorer(saved["built"], folder, "f" * 64)
    return folder


def _rehash(folder):
    doc = json.loads((folder / ss.MANIFEST).read_text())
    doc["files"] = {name: ss._sha(folder / name) for name in doc["files"]}
    (folder / ss.MANIFEST).write_text(json.dumps(doc))


def test_a_refused_type_is_never_loaded_and_the_scorer_is_built_again(saved, tmp_path, monkeypatch):
    import skops.io as sio

    from pipeline.customer.facts import Fact

    folder = _bundle(saved, tmp_path)
    target = folder / "next_order.skops"
    assert target.exists()
    sio.dump(Fact("shown", "not a model"), target)           # a type outside the allow-list, sha-256 updated to match
    _rehash(folder)
    assert ss.load_scorer(folder, saved["ds"], "f" * 64) is None

    ws, ds = saved["ws"], saved["ds"]
    fp = ss.scorer_fingerprint(ws.dataset_content_hash("t400"), pf.ScoringSettings())
    real = ws.scorer_dir("t400") / fp[:16]
    ss.save_scorer(saved["built"], real, fp)
    sio.dump(Fact("shown", "not a model"), real / "next_order.skops")
    _rehash(real)
    calls = []
    monkeypatch.setattr("pipeline.customer.scoring.build_scorer", lambda *a, **k: calls.append(1) or saved["built"])
    assert ss.ensure_scorer(ws, "t400", ds) is saved["built"] and calls == [1]
    assert ss.load_scorer(real, ds, fp) is not None                        # rebuilt and saved again


@pytest.mark.parametrize("damage", ["truncate", "edit_table", "drop_file", "manifest", "other_fingerprint"])
def test_damaged_bundles_are_not_used(saved, tmp_path, damage):
    folder = _bundle(saved, tmp_path)
    fp = "f" * 64
    if damage == "truncate":
        p = folder / "spend_direct_model.skops"
        p.write_bytes(p.read_bytes()[:100])
    elif damage == "edit_table":
        t = pd.read_parquet(folder / "table.parquet")
        t.iloc[0, 0] = t.iloc[1, 0]
        t.to_parquet(folder / "table.parquet")
    elif damage == "drop_file":
        (folder / "rec_weights.npz").unlink()
    elif damage == "manifest":
        (folder / ss.MANIFEST).write_text("{not json")
    else:
        fp = "0" * 64
    assert ss.load_scorer(folder, saved["ds"], fp) is None


def test_fingerprint_follows_every_input(saved, tmp_path):
    from pipeline.models.persist import build_metadata
    from pipeline.rfm import load_segment_rules

    ws, ds = saved["ws"], saved["ds"]
    h = ws.dataset_content_hash("t400")
    base = ss.scorer_fingerprint(h, pf.ScoringSettings())
    assert base == ss.scorer_fingerprint(h, pf.ScoringSettings())
    assert base == ss.scorer_fingerprint(h, pf.ScoringSettings(), load_segment_rules())   # the defaults, named

    other = Workspace("w2", root=tmp_path)
    other.save_dataset(Dataset("t400", "synthetic 400", "transactions", transactions=ds.transactions.iloc[:-1],
                               returns=ds.returns))
    assert other.dataset_content_hash("t400") != h
    other.save_dataset(Dataset("t400", "synthetic 400", "transactions", transactions=ds.transactions,
                               returns=ds.returns))
    assert other.dataset_content_hash("t400") == h                      # same lines, same hash (not the save time)
    other.update_extra("t400", {"currency": "EUR"})
    assert other.dataset_content_hash("t400") != h                      # the currency changes coupons' unit

    assert ss.scorer_fingerprint(h, pf.ScoringSettings(horizon_days=60)) != base
    rules = load_segment_rules()
    rules.iloc[0, -1] = "Renamed"
    assert ss.scorer_fingerprint(h, pf.ScoringSettings(), rules) != base

    churn = saved["with_model"].decisions.churn
    X = saved["built"].table[churn.features]
    types = {c: "numeric" for c in churn.features}
    meta = build_metadata("logreg", "LR", "churned", X, np.zeros(len(X), int), types, [0, 1], {},
                          extra={"kind": "churn"})
    live = ss.scorer_fingerprint(h, pf.ScoringSettings(), active=(churn.pipeline, meta))
    assert live != base
    assert ss.scorer_fingerprint(h, pf.ScoringSettings(),
                                 active=(churn.pipeline, dataclasses.replace(meta, created="later"))) != live

    a = pd.DataFrame({"customer_id": saved["built"].table.index, "cluster": 0, "cluster_name": "all"})
    clustered = ss.scorer_fingerprint(h, pf.ScoringSettings(), clustering=(a, {"method": "kmeans", "k": 1}))
    assert clustered != base
    assert ss.scorer_fingerprint(h, pf.ScoringSettings(),
                                 clustering=(a.assign(cluster=np.arange(len(a)) % 2), {"method": "kmeans", "k": 1})
                                 ) != clustered


def test_the_default_sliced_churn_model_round_trips_through_persist(saved, tmp_path):
    from pipeline.models.persist import build_metadata, load_model, save_model

    churn = saved["built"].decisions.churn            # what build_scorer trains: default_churn_classifier
    assert churn.source == "default"
    X = saved["built"].table
    types = {c: "numeric" for c in churn.features}
    meta = build_metadata("logreg", churn.label, "churned", X[churn.features], np.zeros(len(X), int), types, [0, 1],
                          {}, churn.reference)
    save_model(churn.pipeline, meta, tmp_path / "churn")
    pipe, _ = load_model(tmp_path / "churn")
    Xi = churn.inputs(X)
    np.testing.assert_array_equal(pipe.predict_proba(Xi), churn.pipeline.predict_proba(Xi))


def test_grades_and_recency_rule_json_round_trips(saved):
    from pipeline.grading import RecencyRule
    from pipeline.value import ValueGrades

    g = saved["built"].decisions.grades
    back = ValueGrades.from_json(json.loads(json.dumps(g.to_json())))
    pd.testing.assert_frame_equal(back.table, g.table, check_dtype=False)
    assert back.to_json() == g.to_json()
    rule = saved["built"].decisions.risk.recency
    again = RecencyRule.from_dict(json.loads(json.dumps(rule.to_dict())))
    np.testing.assert_array_equal(again.probability([0, 10, 100, 1000]), rule.probability([0, 10, 100, 1000]))


def test_customer_tables_are_built_not_stored(tmp_path):
    rng = np.random.default_rng(0)
    customers = pd.DataFrame({"customer_id": [f"c{i}" for i in range(40)], "age": rng.integers(20, 70, 40),
                              "income": rng.normal(50_000, 9_000, 40).round(), "visits": rng.integers(0, 30, 40)})
    ws = Workspace("c", root=tmp_path)
    ws.save_dataset(Dataset("c1", "customers", "customers", customers=customers))
    scorer = ss.ensure_scorer(ws, "c1", ws.load_dataset("c1"))
    assert scorer.kind == "customers" and not ws.scorer_dir("c1").exists()


def test_at_most_three_bundles_are_kept_and_a_resaved_dataset_drops_them(saved, tmp_path):
    import os

    ws = Workspace("k", root=tmp_path)
    ds = saved["ds"]
    ws.save_dataset(Dataset("t400", "synthetic 400", "transactions", transactions=ds.transactions,
                            returns=ds.returns))
    parent = ws.scorer_dir("t400")
    for i in range(5):
        (parent / f"bundle{i}").mkdir(parents=True)
        os.utime(parent / f"bundle{i}", (1_000_000 + i, 1_000_000 + i))
    (parent / ".bundle9.x.tmp").mkdir()
    ss._prune(parent)
    assert sorted(p.name for p in parent.iterdir()) == ["bundle2", "bundle3", "bundle4"]
    ws.save_dataset(Dataset("t400", "synthetic 400", "transactions", transactions=ds.transactions,
                            returns=ds.returns))
    assert not parent.exists()
