"""Erasure and subject access (issue 24): a customer held in a saved dataset (lines, returns, the uploaded file), a
selection, a campaign list, a clustering, a fitted scorer, the service (purchases, card, coupon issued and redeemed,
an Idempotency-Key's stored answer) and the prediction log is erased; then every file under the workspace (raw bytes,
Parquet read with pandas) and every table of the database (SQLite and PostgreSQL) is searched for the id: nothing.
Campaign budgets and counts are unchanged. The subject-access export holds everything the erasure removed."""
from __future__ import annotations

import dataclasses
import functools
import io
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from service_support import database, make_key, small_dataset

CID = "ZQX-ERASE-7731"          # cannot collide with any other string by accident
DS_ID = "erase-ds"


@functools.lru_cache(maxsize=1)
def _dataset():
    """The small sample cut to 150 customers, one (who has returns) renamed to CID."""
    ds = small_dataset()
    ids = ds.transactions["customer_id"].drop_duplicates().iloc[:150]
    keep = lambda df: df[df["customer_id"].isin(ids)].reset_index(drop=True)  # noqa: E731
    ds = dataclasses.replace(ds, transactions=keep(ds.transactions), returns=keep(ds.returns))
    old = str(ds.returns["customer_id"].iloc[0])
    rename = lambda df: df.assign(customer_id=df["customer_id"].astype(str).replace(old, CID))  # noqa: E731
    return dataclasses.replace(ds, id=DS_ID, name="Erasure test", transactions=rename(ds.transactions),
                               returns=rename(ds.returns), extra={**ds.extra, "upload": None}, report=dict(ds.report))


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A workspace holding CID everywhere the app writes: built once (the scorer fit), copied per test."""
    from pipeline.campaign.saved import SavedCampaign, save_campaign
    from pipeline.customer.scorer_store import ensure_scorer
    from pipeline.store import Workspace

    root = tmp_path_factory.mktemp("template")
    ws = Workspace("w1", root)
    ds = _dataset()
    upload = ws.stage_upload(ds.transactions.to_csv(index=False).encode(), "shop.csv")
    ds = dataclasses.replace(ds, extra={**ds.extra, "upload": upload.name})
    ws.save_dataset(ds)
    others = [c for c in ds.transactions["customer_id"].unique() if c != CID][:5]
    ws.save_segment("VIP lasso", DS_ID, [CID, *others], source="test")
    ws.save_segment("Without them", DS_ID, others, source="test")
    camp = pd.DataFrame({"customer_id": [CID, *others], "arm": ["treatment"] * 6, "coupon_value": [5.0] * 6})
    save_campaign(ws, SavedCampaign("spring", "Spring", DS_ID, "Segment: all", 0.0, "2025-01-01", "GBP",
                                    {"customers": 6, "cost": 30.0}), camp)
    ws.save_clustering(DS_ID, pd.DataFrame({"customer_id": [CID, *others], "cluster": [0, 1, 0, 1, 0, 1],
                                            "cluster_name": ["A", "B", "A", "B", "A", "B"]}), {"method": "test"})
    scorer = ensure_scorer(ws, DS_ID, active=None, clustering=ws.load_clustering(DS_ID))
    _save_model(ws)
    return root, scorer


def _save_model(ws) -> None:
    """A saved churn model trained on the dataset (a retrain version): erasure marks it."""
    from sklearn.linear_model import LogisticRegression

    from pipeline.health.registry import HealthStore
    from pipeline.models.persist import build_metadata

    X = pd.DataFrame({"recency": np.arange(20.0)})
    y = (X["recency"] > 9).astype(int)
    meta = build_metadata("logreg", "Logistic regression", "churned", X, y, {"recency": "numeric"}, [0, 1], {},
                          extra={"name": "Churn model", "kind": "churn", "dataset": {"id": DS_ID, "name": "x"}})
    HealthStore(ws, DS_ID).save_version(LogisticRegression().fit(X, y), meta)


def _serve_and_use(url: str, root: Path, scorer) -> dict:
    """The customer in the service: purchases (with an Idempotency-Key), card, a coupon issued and redeemed; the
    campaign's counts as the API gives them."""
    from pipeline.store import Workspace
    from service.core.config import Settings
    from service.main import create_app
    from service.scoring import Scorer

    key = make_key(url, "admin")
    h = {"Authorization": f"Bearer {key}"}
    settings = Settings(database_url=url, workspace=root / "w1", log_requests=False)
    svc = Scorer(DS_ID, scorer, workspace=Workspace("w1", root))
    with TestClient(create_app(settings, scorer=svc)) as c:
        r = c.post(f"/customers/{CID}/transactions", headers=h | {"Idempotency-Key": "buy-1"},
                   json={"transactions": [{"date": "2024-12-30", "amount": 42.5, "invoice_id": "INV-9"}]})
        assert r.status_code == 201, r.text
        assert c.get(f"/customers/{CID}", headers=h).json()["customer_id"] == CID
        assert c.put("/campaigns/winback", headers=h, json={"name": "Winback", "control_share": 0.0,
                                                            "max_coupons": 100}).status_code in (200, 201)
        r = c.post("/coupons/issue", headers=h, json={"campaign": "winback", "customer_id": CID})
        assert r.status_code == 200, r.text
        d = r.json()
        for other in scorer.table.index[:3]:
            c.post("/coupons/issue", headers=h, json={"campaign": "winback", "customer_id": str(other)})
        if d.get("code"):
            assert c.post(f"/coupons/{d['code']}/redeem", headers=h, json={"order_amount": 60.0}).status_code == 200
        return c.get("/campaigns/winback", headers=h).json()


def _campaign_counts(url: str, root: Path, scorer) -> dict:
    from pipeline.store import Workspace
    from service.core.config import Settings
    from service.main import create_app
    from service.scoring import Scorer

    h = {"Authorization": f"Bearer {make_key(url, 'reader', ['read'])}"}
    with TestClient(create_app(Settings(database_url=url, log_requests=False),
                               scorer=Scorer(DS_ID, scorer, workspace=Workspace("w1", root)))) as c:
        return c.get("/campaigns/winback", headers=h).json()


def _file_hits(root: Path) -> list[str]:
    """Every file under ``root`` holding CID: raw bytes (UTF-8 and UTF-16), zip members, Parquet read by pandas."""
    hits = []
    needles = (CID.encode(), CID.encode("utf-16-le"), CID.encode("utf-32-le"))
    for f in root.rglob("*"):
        if not f.is_file():
            continue
        data = f.read_bytes()
        blobs = [data]
        if zipfile.is_zipfile(io.BytesIO(data)):
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                blobs += [z.read(m) for m in z.namelist()]
        if any(n in b for b in blobs for n in needles):
            hits.append(str(f))
        if f.suffix == ".parquet":
            df = pd.read_parquet(f).reset_index()
            if df.astype(str).apply(lambda col: col.str.contains(CID, regex=False)).to_numpy().any():
                hits.append(f"{f} (parquet)")
    return hits


def _table_hits(url: str) -> dict[str, int]:
    from sqlalchemy import MetaData, create_engine, select

    engine = create_engine(url)
    md = MetaData()
    md.reflect(engine)
    out = {}
    with engine.connect() as conn:
        for t in md.sorted_tables:
            n = sum(CID in str(v) for row in conn.execute(select(t)) for v in row)
            if n:
                out[t.name] = n
    engine.dispose()
    return out


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_erase_everywhere_and_export_round_trip(backend, template, tmp_path):
    from pipeline.health.live import ERASED_NOTE, live_model
    from pipeline.health.predictions import PredictionLog
    from pipeline.health.registry import HealthStore
    from pipeline.privacy.erase import forget
    from pipeline.privacy.subject import export_customer
    from pipeline.store import Workspace

    src, scorer = template
    root = tmp_path / "root"
    shutil.copytree(src, root)
    with database(backend, tmp_path) as url:
        before_counts = _serve_and_use(url, root, scorer)
        PredictionLog(url).record(DS_ID, [{"customer_id": CID, "score": 0.7, "band": "High",
                                           "model_version": "v1", "as_of": "2024-12-31"}])
        assert _file_hits(root) and _table_hits(url)                 # held everywhere before

        doc = export_customer(CID, root, url)
        out = json.loads(json.dumps(doc))                            # the export is plain JSON
        held = {(p["kind"], p["where"]): p for p in out["held"]}
        kinds = {k for k, _ in held}
        assert {"dataset", "upload", "selection", "campaign", "clustering", "scorer", "table"} <= kinds
        tables = {w for k, w in held if k == "table"}
        assert {"table transactions", "table customer_cards", "table coupon_decisions", "table health_predictions",
                "table idempotency_keys"} <= tables
        ds_rows = held[("dataset", "w1/datasets/erase-ds")]["records"]
        assert {r["customer_id"] for r in ds_rows["transactions"] + ds_rows["returns"]} == {CID}
        assert len(ds_rows["transactions"]) == (_dataset().transactions["customer_id"] == CID).sum()
        assert out["cards"] and out["cards"][0]["card"]["customer_id"] == CID       # scores and reasons
        assert out["models_trained_on_their_data"][0]["models"] == [f"churn-{DS_ID}-v1"]

        report_before = Workspace("w1", root).load_dataset(DS_ID).report
        receipt = forget(CID, root, url)

        assert receipt["remains_total"] == 0 and receipt["remains"] == [], receipt["remains"]
        assert receipt["left"] == []
        for r in receipt["removed"]:                                 # everything removed was in the export
            assert (r["kind"], r["where"]) in held, r
            assert r["removed"] <= held[(r["kind"], r["where"])]["count"], r
        assert receipt["removed_total"] > 0
        assert _file_hits(root) == []
        assert _table_hits(url) == {}
        assert _campaign_counts(url, root, scorer) == before_counts     # budgets and counts unchanged in total

        ws = Workspace("w1", root)
        ds = ws.load_dataset(DS_ID)
        lines = (_dataset().transactions["customer_id"] == CID).sum()
        assert ds.report["rows_out"] == report_before["rows_out"] - lines
        assert ds.report["customers"] == report_before["customers"] - 1
        assert ds.report["revenue"] == pytest.approx(
            report_before["revenue"] - _dataset().transactions.loc[_dataset().transactions["customer_id"] == CID,
                                                                  "amount"].sum(), abs=0.01)
        assert "erased on request" in ds.report["notes"][-1] and CID not in ds.report["notes"][-1]
        seg = {s["name"]: s for s in ws.list_segments()}
        assert seg["VIP lasso"]["erased"] == 1 and len(seg["VIP lasso"]["customer_ids"]) == 5
        camp = json.loads((root / "w1" / "campaigns" / "spring.json").read_text())
        assert camp["totals"] == {"customers": 6, "cost": 30.0} and camp["erased_customers"] == 1
        store = HealthStore(ws, DS_ID)
        assert store.trained_on_erased(f"churn-{DS_ID}-v1")
        store.set_champion("v1")
        assert ERASED_NOTE in live_model(ws, DS_ID).sentence()
        audit = (root / "audit.jsonl").read_text()
        assert '"erase"' in audit and '"export"' in audit and CID not in audit

        again = forget(CID, root, url)                               # a second request finds nothing
        assert again["removed"] == [] and again["remains_total"] == 0


def test_delete_route_erases_in_the_service(template, tmp_path):
    from pipeline.store import Workspace
    from service.core.config import Settings
    from service.main import create_app
    from service.scoring import Scorer

    src, scorer = template
    root = tmp_path / "root"
    shutil.copytree(src, root)
    with database("sqlite", tmp_path) as url:
        _serve_and_use(url, root, scorer)
        admin = {"Authorization": f"Bearer {make_key(url, 'boss')}"}
        reader = {"Authorization": f"Bearer {make_key(url, 'reader', ['read'])}"}
        settings = Settings(database_url=url, workspace=root / "w1", log_requests=False)
        svc = Scorer(DS_ID, scorer, workspace=Workspace("w1", root))
        with TestClient(create_app(settings, scorer=svc)) as c:
            assert c.get(f"/customers/{CID}", headers=reader).status_code == 200
            assert c.delete(f"/customers/{CID}", headers=reader).status_code == 403
            r = c.delete(f"/customers/{CID}", headers=admin)
            assert r.status_code == 200, r.text
            receipt = r.json()
            assert receipt["remains_total"] == 0 and receipt["removed_total"] > 0
            assert {"dataset", "table"} <= {x["kind"] for x in receipt["removed"]}
            assert c.get(f"/customers/{CID}", headers=reader).status_code == 404
        assert _file_hits(root) == [] and _table_hits(url) == {}
        audit = [json.loads(line) for line in (root / "w1" / "audit.jsonl").read_text().splitlines()]
        assert any(a["action"] == "erase" and a["who"] == "boss" for a in audit)


def test_customer_page_erases_after_typing_the_id(at, tmp_path):
    """The Customer page: *Erase this customer* stays disabled until the id is typed, then erases and shows the
    receipt; the saved dataset no longer holds the customer."""
    from app import keys
    from conftest import dataset

    at.file_uploader(key="uploader").upload("Mall_Customers.csv", dataset("Mall_Customers.csv").read_bytes(),
                                            "text/csv")
    at.run()
    at.query_params["customer"] = "0003"
    at.switch_page("pages/customer.py").run()
    assert not at.exception and not at.error
    erase = lambda: next(b for b in at.button if b.label == "Erase this customer")  # noqa: E731
    assert erase().disabled
    at.text_input(key=keys.ERASE_CONFIRM).input("0004").run()
    assert erase().disabled                                          # another id does not confirm
    at.text_input(key=keys.ERASE_CONFIRM).input("0003").run()
    erase().click().run()
    assert not at.exception
    assert any("Customer erased" in s.value for s in at.success), [s.value for s in at.success]
    assert "customer" not in at.query_params
    root = tmp_path / "workspace"
    held = [f for f in root.rglob("customers.parquet")]
    assert held and all("0003" not in set(pd.read_parquet(f)["customer_id"].astype(str)) for f in held)


def test_cli_export_then_forget_on_a_hand_made_workspace(tmp_path, capsys):
    """``export-customer --out`` and ``forget`` from the command line on a 5-line dataset (no service database:
    the receipt says none was searched); the report's counts are recomputed by hand."""
    from pipeline.cli import main
    from pipeline.store import Dataset, Workspace

    tx = pd.DataFrame({"customer_id": [CID, CID, "C-1", "C-2", "C-2"], "invoice_id": ["i1", "i2", "i3", "i4", "i4"],
                       "date": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-01-05", "2024-01-07",
                                               "2024-01-07"]),
                       "quantity": [1.0, 2.0, 1.0, 1.0, 3.0], "unit_price": [10.0, 5.0, 7.0, 2.0, 1.0],
                       "amount": [10.0, 10.0, 7.0, 2.0, 3.0], "product_id": ["a", "b", "a", "c", "b"]})
    ret = tx.iloc[[0]].assign(invoice_id="Ci1")
    report = {"rows_in": 7, "rows_out": 5, "customers": 3, "invoices": 4, "revenue": 32.0, "return_lines": 1,
              "notes": []}
    ws = Workspace("w9", tmp_path / "root")
    ws.save_dataset(Dataset("tiny", "Tiny", "transactions", transactions=tx, returns=ret, report=report))
    ws.save_segment("Picked", "tiny", [CID, "C-2"])

    out = tmp_path / "subject.json"
    assert main(["export-customer", CID, "--workspace", str(tmp_path / "root"), "--out", str(out),
                 "--no-card"]) == 0
    doc = json.loads(out.read_text())
    ds = next(p for p in doc["held"] if p["kind"] == "dataset")
    assert [r["invoice_id"] for r in ds["records"]["transactions"]] == ["i1", "i2"]
    assert [r["invoice_id"] for r in ds["records"]["returns"]] == ["Ci1"]
    assert {p["kind"] for p in doc["held"]} == {"dataset", "selection"}
    capsys.readouterr()

    assert main(["forget", CID, "--workspace", str(tmp_path / "root")]) == 0
    receipt = json.loads(capsys.readouterr().out)
    assert receipt["removed_total"] == 4 and receipt["remains_total"] == 0       # 2 lines + 1 return + 1 member
    assert any("No service database" in n for n in receipt["notes"])
    after = ws.load_dataset("tiny").report
    assert (after["rows_in"], after["rows_out"], after["customers"], after["invoices"], after["revenue"],
            after["return_lines"], after["erasures"]) == (4, 3, 2, 2, 12.0, 0, 1)
    assert main(["forget", "  "]) == 2                                            # an empty id: one line, exit 2


@pytest.mark.parametrize("erased", [False, True])
def test_retrain_sets_aside_a_champion_trained_on_an_erased_customer(erased, tmp_path, monkeypatch):
    """A better champion keeps its place, unless it was trained on data that included an erased customer: the
    challenger then only has to beat the BG/NBD baseline (fits stubbed: the rule is what is tested)."""
    from types import SimpleNamespace

    from pipeline.health import retrain as rt
    from pipeline.health.registry import HealthStore
    from pipeline.store import Dataset, Workspace

    ws = Workspace("w1", tmp_path)
    store = HealthStore(ws, "d1")
    (ws.models_dir / "churn-d1-v1").mkdir(parents=True)
    store.path.mkdir(parents=True)
    (store.path / "champion.json").write_text(json.dumps({"model_id": "churn-d1-v1", "version": "v1", "serial": 1}))
    if erased:
        store.mark_erased(["churn-d1-v1"])
    monkeypatch.setattr(rt, "_challenger", lambda *a: (None, {}, None, None, {"roc_auc": 0.80}, {"roc_auc": 0.70}))
    monkeypatch.setattr(rt, "_grade_champion", lambda *a: {"roc_auc": 0.90, "version": "v1"})
    monkeypatch.setattr(rt, "_metadata", lambda *a: SimpleNamespace(extra={}))
    monkeypatch.setattr(HealthStore, "save_version", lambda self, p, m: "v2")
    promoted = []
    monkeypatch.setattr(HealthStore, "set_champion", lambda self, v, history=None: promoted.append(v))
    split = SimpleNamespace(info={"test": {"label_window": "w"}, "train": {"cutoff": "c"}})
    ds = Dataset("d1", "D", "transactions", transactions=pd.DataFrame(), returns=pd.DataFrame())
    entry = rt.retrain(ws, ds, split=split)
    assert entry["promoted"] is erased and promoted == (["v2"] if erased else [])
    assert ("erased customer" in entry["reason"]) is erased
