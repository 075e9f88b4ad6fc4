"""Issue 24, items 3, 4 and 6: the audit log (append-only, no customer data, one record per action), retention of
the prediction log and the API purchases (SQLite and PostgreSQL), and pseudonymised exports (keyed, joined back,
the key outside the workspace)."""
from __future__ import annotations

import json
import os
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

import fixtures
from pipeline.cli import main
from pipeline.errors import DataError
from pipeline.privacy import audit, pseudonym, retention

#: Customer ids distinctive enough that any occurrence in a file is a leak, not a coincidence.
IDS = {"0042": "CUST-QX42", "0007": "CUST-ZW07", "0100": "CUST-KV10"}


@pytest.fixture(autouse=True)
def _keys(tmp_path, monkeypatch):
    """Pseudonym keys under a throw-away config folder (never the real ~/.config), no key from the environment."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv(pseudonym.KEY_ENV, raising=False)
    monkeypatch.delenv(retention.RETENTION_ENV, raising=False)
    audit.set_actor("app")
    yield
    audit.set_actor("app")


def _csv(tmp_path: Path) -> Path:
    df = fixtures.frame()
    df["CustomerID"] = df["CustomerID"].map(IDS)
    path = tmp_path / "tx.csv"
    df.to_csv(path, index=False)
    return path


def _no_customer_ids(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert not [c for c in IDS.values() if c in text]


# ---- audit log ----------------------------------------------------------------------------------------------------
def test_records_are_appended_never_rewritten(tmp_path):
    ws = tmp_path / "ws1"
    first = audit.record(ws, "export", "rfm table", rows=3, pseudonymised=False)
    path = audit.audit_file(ws)
    before, inode = path.read_bytes(), path.stat().st_ino
    audit.record(ws, "erase", "dataset d1", who="marketing-key")
    after = path.read_bytes()
    assert after.startswith(before) and len(after) > len(before)          # appended: the old bytes stay as they were
    assert path.stat().st_ino == inode                                      # the same file, not a replacement
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    rows = [json.loads(line) for line in after.decode().splitlines()]
    assert rows[0] == first and rows[1]["who"] == "marketing-key" and rows[0]["who"] == "app"
    assert datetime.fromisoformat(rows[0]["when"]).tzinfo is not None      # UTC, ISO 8601
    with pytest.raises(ValueError, match="not one of"):
        audit.record(ws, "download", "x")
    assert path.read_bytes() == after                                       # a refused record writes nothing


def test_read_filters_and_workspace_folders(tmp_path):
    root = tmp_path / "root"
    audit.record(root / "wsA", "export", "campaign list")
    audit.record(root / "wsB", "model_live", "model v2", dataset="d1")
    audit.record(root, "api_key_create", "key k1", who="cli")
    with open(audit.audit_file(root), "a", encoding="utf-8") as fh:          # a line cut short by a crash
        fh.write('{"when": "2026-')
    rows = audit.read_records(root)
    assert sorted((r["action"], r.get("workspace")) for r in rows) == \
        [("api_key_create", None), ("export", "wsA"), ("model_live", "wsB")]
    assert [r["object"] for r in audit.read_records(root, action="model_live")] == ["model v2"]
    tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).date().isoformat()
    assert audit.read_records(root, since=tomorrow) == []
    assert len(audit.read_records(root / "wsA", since="2000-01-01")) == 1
    with pytest.raises(ValueError, match="not a date"):
        audit.read_records(root, since="yesterday")


def test_every_action_writes_one_record_without_customer_data(tmp_path, capsys):
    """Exports (rfm, pseudonymised too), model put live, API key create and revoke and a purge each write exactly one
    record naming who, what and when; none of them holds a customer id."""
    from pipeline.health.registry import HealthStore
    from pipeline.store import Workspace

    ws_dir, csv = tmp_path / "ws", _csv(tmp_path)
    audit.set_actor("cli")
    assert main(["rfm", str(csv), "--out", str(tmp_path / "r.csv"), "--workspace", str(ws_dir)]) == 0
    assert main(["rfm", str(csv), "--out", str(tmp_path / "p.csv"), "--workspace", str(ws_dir), "--pseudonymise"]) == 0
    exports = audit.read_records(ws_dir, action="export")
    assert [(r["who"], r["object"], r["rows"], r["pseudonymised"]) for r in exports] == \
        [("cli", "rfm table", 3, False), ("cli", "rfm table", 3, True)]

    audit.set_actor("app")                                    # a model put live from the app
    ws = Workspace("wsapp", tmp_path / "root")
    store = HealthStore(ws, "d1")
    _save_model(ws, "churn-d1-v1")
    store.set_champion("v1")
    live = audit.read_records(ws.path, action="model_live")
    assert [(r["who"], r["object"], r["dataset"]) for r in live] == [("app", "model v1", "d1")]

    _key_changes(tmp_path)
    keys = audit.read_records(tmp_path / "workspace")       # SEGMENTS_WORKSPACE (conftest): the service's workspace
    assert [(r["action"], r["object"], r["who"]) for r in keys] == \
        [("api_key_create", "k1", "cli"), ("api_key_revoke", "k1", "cli")]

    db = ws_dir / "service.db"
    _prediction_rows(f"sqlite:///{db}", days_ago=[40, 1])
    capsys.readouterr()
    assert main(["purge", "--workspace", str(ws_dir), "--days", "30"]) == 0
    assert json.loads(capsys.readouterr().out)["predictions"] == 1
    assert main(["purge", "--workspace", str(ws_dir), "--days", "30"]) == 0    # nothing left to delete: no record
    purges = audit.read_records(ws_dir, action="purge")
    assert [(r["who"], r["object"], r["predictions"], r["api_lines"]) for r in purges] == \
        [("cli", "older than 30 days", 1, 0)]
    for path in (audit.audit_file(ws_dir), audit.audit_file(ws), audit.audit_file(tmp_path / "workspace")):
        _no_customer_ids(path)
    capsys.readouterr()
    assert main(["audit", "--workspace", str(ws_dir), "--action", "export"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2


def _save_model(ws, model_id: str) -> None:
    """A tiny saved churn model (any readable model folder will do for the pointer)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from pipeline.models.persist import build_metadata, save_model

    X, y = pd.DataFrame({"x": [0.0, 1.0, 0.2, 0.9]}), [0, 1, 0, 1]
    meta = build_metadata("logreg", "Logistic regression", "churn", X, y, {"x": "numeric"}, [0, 1], {},
                          extra={"dataset": {"id": "d1"}})
    save_model(make_pipeline(LogisticRegression()).fit(X, y), meta, ws.models_dir / model_id)


def _key_changes(tmp_path: Path) -> None:
    from service.core.db import make_engine, session_factory
    from service.keys import create_key, revoke_key
    from service.migrations import upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'keys.db'}")
    try:
        upgrade(engine)
        with session_factory(engine)() as s:
            create_key(s, "k1", ["read"])
            assert revoke_key(s, "k1")
    finally:
        engine.dispose()


# ---- retention ----------------------------------------------------------------------------------------------------
def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _prediction_rows(url: str, days_ago: list[int]) -> None:
    from sqlalchemy import update

    from pipeline.health.predictions import _table, prediction_log

    log = prediction_log(url)
    log.record("d1", [{"customer_id": IDS["0042"], "score": 0.5, "band": "Medium", "model_version": "v1",
                       "as_of": "2011-01-01"} for _ in days_ago])
    with log.engine.begin() as conn:
        ids = [r[0] for r in conn.execute(_table.select().with_only_columns(_table.c.id).order_by(_table.c.id))]
        for rid, age in zip(ids[-len(days_ago):], days_ago, strict=True):
            conn.execute(update(_table).where(_table.c.id == rid).values(scored_at=_now() - timedelta(days=age)))


def test_retention_setting():
    assert retention.retention_days() is None                               # unset: keep
    assert retention.retention_days("90") == 90
    for bad in ("0", "-3", "ninety", "1.5"):
        with pytest.raises(DataError, match="whole number of days"):
            retention.retention_days(bad)


def test_api_table_names_are_the_services():
    from service.models import CustomerCard, Transaction

    assert retention.API_TABLES == {"lines": Transaction.__tablename__, "cards": CustomerCard.__tablename__}
    assert {"dataset", "customer_id", "received_at"} <= set(Transaction.__table__.columns.keys())


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_purge_bounds_log_and_api_purchases_and_cards_are_rebuilt(backend, tmp_path, monkeypatch):
    from service_support import database
    from sqlalchemy import func, select

    from service import transactions as store
    from service.core.db import make_engine, session_factory
    from service.migrations import upgrade
    from service.models import CustomerCard, Transaction

    old, new, gone = IDS["0042"], IDS["0007"], IDS["0100"]
    with database(backend, tmp_path) as url:
        engine = make_engine(url)
        try:
            upgrade(engine)
            sessions = session_factory(engine)
            build = lambda rows: {"lines": len(rows), "spend": sum(r["amount"] for r in rows)}  # noqa: E731
            for cid, ages in ((old, [50, 2]), (new, [3]), (gone, [45])):
                for i, age in enumerate(ages):
                    store.write_purchases(sessions, "d1", cid, [{"date": _now() - timedelta(days=age + 1),
                                                                 "amount": 10.0 * (i + 1), "quantity": 1.0,
                                                                 "unit_price": 10.0, "invoice_id": f"{cid}-{i}",
                                                                 "product_id": "A", "line_no": 1}], build)
            with sessions() as s:                                     # received 50 / 45 days ago
                for cid, ages in ((old, [50, 2]), (gone, [45])):
                    for i, age in enumerate(ages):
                        s.execute(Transaction.__table__.update().where(
                            (Transaction.customer_id == cid) & (Transaction.invoice_id == f"{cid}-{i}"))
                            .values(received_at=_now() - timedelta(days=age)))
                s.commit()
            _prediction_rows(url, days_ago=[40, 31, 29, 0])

            assert retention.enforce_retention(engine, tmp_path / "ws") is None       # unset: nothing happens
            monkeypatch.setenv(retention.RETENTION_ENV, "30")
            report = retention.enforce_retention(engine, tmp_path / "ws", who="service")
            assert (report.predictions, report.api_lines, report.cards_to_rebuild) == (2, 2, 2)

            with sessions() as s:
                left = s.execute(select(Transaction.customer_id, func.count()).group_by(Transaction.customer_id))
                assert dict(left.all()) == {old: 1, new: 1}
                assert set(s.scalars(select(CustomerCard.customer_id))) == {new}     # the others were deleted
                assert store.behind(s, "d1") == [old]                 # found and rebuilt at the service's start-up
                card, built_from, n = store.card_state(s, "d1", old)
                assert card is None and n == 1 and built_from != n    # a read finds it behind and rebuilds it
            assert store.rebuild(sessions, "d1", old, build) == {"lines": 1, "spend": 20.0}
            with engine.connect() as conn:
                from pipeline.health.predictions import _table
                assert conn.execute(select(func.count()).select_from(_table)).scalar() == 2
            assert retention.purge(engine, 30).deleted == 0               # idempotent
            purges = audit.read_records(tmp_path / "ws", action="purge")
            assert [(r["who"], r["api_lines"], r["predictions"]) for r in purges] == [("service", 2, 2)]
            _no_customer_ids(audit.audit_file(tmp_path / "ws"))
        finally:
            engine.dispose()


def test_service_start_up_purges_and_rebuilds_cards(tmp_path, monkeypatch):
    """With SEGMENTS_RETENTION_DAYS set the service deletes old API purchases at start-up, before it repairs cards:
    the customer who kept a purchase is served a card built from it alone; the purge is audited as "service"."""
    from fastapi.testclient import TestClient
    from service_support import make_key, small_dataset, small_scorer
    from sqlalchemy import select

    from service import transactions as store
    from service.core.config import Settings
    from service.core.db import make_engine, session_factory
    from service.main import create_app
    from service.migrations import upgrade
    from service.models import Transaction

    scorer, url = small_scorer(), f"sqlite:///{tmp_path / 'service.db'}"
    cid = str(small_dataset().transactions["customer_id"].iloc[0])
    key = make_key(url, "reader", ["read"])
    engine = make_engine(url)
    try:
        upgrade(engine)
        sessions = session_factory(engine)
        for i, (age, amount) in enumerate(((60, 500.0), (1, 7.0))):
            store.write_purchases(sessions, scorer.dataset_id, cid,
                                  [{"date": _now() - timedelta(days=age), "amount": amount, "quantity": 1.0,
                                    "unit_price": amount, "invoice_id": f"api-{i}", "product_id": None,
                                    "line_no": 1}], lambda rows: scorer.rescore(cid, rows))
        with sessions() as s:
            s.execute(Transaction.__table__.update().where(Transaction.invoice_id == "api-0")
                      .values(received_at=_now() - timedelta(days=60)))
            s.commit()
    finally:
        engine.dispose()
    monkeypatch.setenv(retention.RETENTION_ENV, "30")
    settings = Settings(database_url=url, workspace=tmp_path / "svc", champion_poll_seconds=0)
    with TestClient(create_app(settings, scorer=scorer)) as client:
        card = client.get(f"/customers/{cid}", headers={"Authorization": f"Bearer {key}"}).json()
    engine = make_engine(url)
    try:
        with session_factory(engine)() as s:
            kept = list(s.scalars(select(Transaction)))
            assert [r.invoice_id for r in kept] == ["api-1"]
            stored, built_from, n = store.card_state(s, scorer.dataset_id, cid)
            assert built_from == n == 1                               # rebuilt at start-up from the line left
            assert stored == json.loads(json.dumps(scorer.rescore(cid, [store.line_dict(kept[0])]), default=str))
    finally:
        engine.dispose()
    assert card["customer_id"] == cid and card == stored
    purges = audit.read_records(tmp_path / "svc", action="purge")
    assert [(r["who"], r["api_lines"]) for r in purges] == [("service", 1)]


def test_purge_command_needs_a_period(tmp_path, capsys):
    assert main(["purge", "--workspace", str(tmp_path)]) == 2
    assert "SEGMENTS_RETENTION_DAYS" in capsys.readouterr().err
    assert main(["purge", "--workspace", str(tmp_path), "--days", "7"]) == 0        # no service database yet
    assert not (tmp_path / "service.db").exists()


# ---- pseudonymised exports ---------------------------------------------------------------------------------------
def test_hashes_are_deterministic_keyed_and_join_back(tmp_path, monkeypatch):
    ws1, ws2 = tmp_path / "root" / "wsone", tmp_path / "root" / "wstwo"
    frame = pd.DataFrame({"customer_id": list(IDS.values()), "segment": ["A", "B", "C"]})
    a, again = pseudonym.pseudonymise(frame, ws1), pseudonym.pseudonymise(frame, ws1)
    b = pseudonym.pseudonymise(frame, ws2)
    assert a.equals(again) and a["segment"].tolist() == ["A", "B", "C"]
    assert a["customer_id"].str.fullmatch(r"[0-9a-f]{64}").all() and a["customer_id"].nunique() == 3
    assert not set(a["customer_id"]) & set(b["customer_id"])                # another workspace: other hashes
    assert not set(a["customer_id"]) & set(IDS.values())
    results = a.assign(redeemed=[1, 0, 1]).iloc[[2, 0, 1]]                  # the agency's file, rows reordered
    known = list(IDS.values()) + ["CUST-OTHER"]
    back = pseudonym.reidentify(results, "customer_id", known, ws1)
    assert back["customer_id"].tolist() == ["CUST-KV10", "CUST-QX42", "CUST-ZW07"]
    assert back["redeemed"].tolist() == [1, 1, 0]
    assert pseudonym.reidentify(b, "customer_id", known, ws1)["customer_id"].equals(b["customer_id"])  # wrong key
    plain = pseudonym.reidentify(frame, "customer_id", known, tmp_path / "nokey")
    assert plain.equals(frame) and not (tmp_path / "config" / "segments" / "nokey.key").exists()

    key_file = tmp_path / "config" / "segments" / "wsone.key"                # the key: outside the workspace, 0600
    assert key_file.is_file() and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    secret = key_file.read_text().strip()
    for folder in (ws1, ws2):
        for f in folder.rglob("*") if folder.exists() else []:
            assert f.is_dir() or secret not in f.read_text(errors="ignore")
    monkeypatch.setenv(pseudonym.KEY_ENV, "deployment-secret")               # a key from the environment
    c, d = pseudonym.pseudonymise(frame, ws1), pseudonym.pseudonymise(frame, ws2)
    assert not set(c["customer_id"]) & set(a["customer_id"]) and not set(c["customer_id"]) & set(d["customer_id"])
    assert pseudonym.reidentify(c, "customer_id", known, ws1)["customer_id"].equals(frame["customer_id"])


def test_key_folder_inside_the_workspace_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "ws" / "config"))
    with pytest.raises(DataError, match="inside the workspace"):
        pseudonym.workspace_key(tmp_path / "ws")
    assert not (tmp_path / "ws" / "config").exists()
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "workspace" / "keys"))      # among all workspaces (root)
    with pytest.raises(DataError, match="inside the workspace"):
        pseudonym.workspace_key(tmp_path / "workspace" / "abc")
    assert not (tmp_path / "workspace" / "keys").exists()


def test_cli_pseudonymised_rfm_export(tmp_path):
    csv, ws = _csv(tmp_path), tmp_path / "ws"
    assert main(["rfm", str(csv), "--out", str(tmp_path / "plain.csv"), "--workspace", str(ws)]) == 0
    assert main(["rfm", str(csv), "--out", str(tmp_path / "hashed.csv"), "--workspace", str(ws),
                 "--pseudonymise"]) == 0
    plain = pd.read_csv(tmp_path / "plain.csv", dtype={"customer_id": str})
    hashed = pd.read_csv(tmp_path / "hashed.csv", dtype={"customer_id": str})
    _no_customer_ids(tmp_path / "hashed.csv")
    assert hashed.drop(columns="customer_id").equals(plain.drop(columns="customer_id"))
    back = pseudonym.reidentify(hashed, "customer_id", plain["customer_id"], ws)
    assert back.equals(plain)
    assert not any(p.suffix == ".key" for p in ws.rglob("*"))


def test_cli_campaign_list_pseudonymised_and_results_joined_back(tmp_path, capsys):
    """A pseudonymised campaign list holds no plain id; the agency's copy measures exactly as the plain list."""
    from service_support import small_dataset

    tx = small_dataset().transactions
    tx = tx[tx["customer_id"].isin(tx["customer_id"].drop_duplicates().iloc[:250])]
    csv, ws = tmp_path / "small.csv", tmp_path / "ws"
    tx[["customer_id", "invoice_id", "date", "quantity", "unit_price", "product_id", "country"]].to_csv(csv, index=False)
    assert main(["campaign", str(csv), "--out", str(tmp_path / "hashed.csv"), "--sent", "2024-09-01",
                 "--workspace", str(ws), "--pseudonymise"]) == 0
    hashed = pd.read_csv(tmp_path / "hashed.csv", dtype=str, keep_default_na=False)
    ids = set(tx["customer_id"].astype(str))
    assert len(hashed) > 20 and not set(hashed["customer_id"]) & ids
    plain = pseudonym.reidentify(hashed, "customer_id", sorted(ids), ws)
    assert set(plain["customer_id"]) <= ids and plain["customer_id"].nunique() == len(hashed)
    plain.to_csv(tmp_path / "plain.csv", index=False)
    capsys.readouterr()
    for name in ("plain.csv", "hashed.csv"):
        assert main(["campaign-results", str(tmp_path / name), str(csv), "--workspace", str(ws)]) == 0
    plain_res, hashed_res = (json.loads(x) for x in _split_json(capsys.readouterr().out))
    assert hashed_res["groups"] == plain_res["groups"] and hashed_res["status"] == plain_res["status"]
    assert sum(g["customers"] for g in plain_res["groups"]) == len(hashed)
    assert [(r["object"], r["rows"], r["pseudonymised"]) for r in audit.read_records(ws, action="export")] == \
        [("campaign list", len(hashed), True)]


def _split_json(out: str) -> list[str]:
    """Two JSON documents printed one after the other."""
    dec, docs, i = json.JSONDecoder(), [], 0
    while i < len(out):
        if out[i].isspace():
            i += 1
            continue
        obj, i = dec.raw_decode(out, i)
        docs.append(json.dumps(obj))
    return docs


def test_nothing_reads_the_key_into_the_environment_or_logs(tmp_path, caplog):
    """The key is never logged: creating and using it writes no log record holding it."""
    caplog.set_level("DEBUG")
    pseudonym.pseudonymise(pd.DataFrame({"customer_id": ["a"]}), tmp_path / "wsk")
    secret = (tmp_path / "config" / "segments" / "wsk.key").read_text().strip()
    assert secret not in caplog.text and secret not in json.dumps(dict(os.environ))


# ---- the app: the checkbox beside the downloads, the audit callback -----------------------------------------------
def test_app_rfm_download_can_be_pseudonymised(app, tmp_path):
    from fixtures import as_bytes

    name, data = as_bytes("csv_utf8")
    app.file_uploader(key="uploader").upload(name, data, "text/csv")
    app.run()
    app.switch_page("pages/rfm.py").run()
    assert not app.exception
    keys_dir = tmp_path / "config" / "segments"
    assert not keys_dir.exists()                                # no key until a pseudonymised list is asked for
    app.checkbox(key="rfm_list_pseudonymise").check().run()
    assert not app.exception and not app.error
    made = list(keys_dir.glob("*.key"))
    workspaces = [p for p in (tmp_path / "workspace").iterdir() if p.is_dir()]
    assert [k.stem for k in made] == [w.name for w in workspaces]           # the app's workspace key, outside it
    assert not any(p.suffix == ".key" for p in (tmp_path / "workspace").rglob("*"))


def test_app_download_callback_records_one_export(tmp_path):
    from app.download_audit import audit_download
    from pipeline.store import Workspace

    ws = Workspace("wsdl", tmp_path / "root")
    click = audit_download(ws, "campaign list", 120, True, "d1")
    assert audit.read_records(ws) == []                          # nothing until the button is clicked
    click()
    rows = audit.read_records(ws)
    assert [(r["who"], r["action"], r["object"], r["rows"], r["pseudonymised"], r["dataset"]) for r in rows] == \
        [("app", "export", "campaign list", 120, True, "d1")]


def test_every_customer_table_download_is_audited(tmp_path, monkeypatch):
    """app.ui.downloads audits a table holding customer ids (column, its label, or index) and nothing else."""
    from app import download_audit, state
    from pipeline.store import Workspace

    ws = Workspace("wsany", tmp_path / "root")
    monkeypatch.setattr(state, "workspace", lambda: ws)
    monkeypatch.setattr(state, "current_dataset_id", lambda: "d9")
    assert download_audit.audit_if_customers(pd.DataFrame({"month": ["2011-01"], "revenue": [1.0]}), "ov") is None
    for i, table in enumerate((pd.DataFrame({"customer_id": ["x"], "cluster": [1]}),
                               pd.DataFrame({"Customer": ["x"]}),
                               pd.DataFrame({"score": [0.3]}, index=pd.Index(["x"], name="customer_id")))):
        download_audit.audit_if_customers(table, f"list{i}")()
    rows = audit.read_records(ws)
    assert [(r["object"], r["rows"], r["dataset"], r["pseudonymised"]) for r in rows] == \
        [("list0", 1, "d9", False), ("list1", 1, "d9", False), ("list2", 1, "d9", False)]


def test_cli_cluster_and_movement_files_are_audited(tmp_path):
    """Every command that writes a file of customers records it: cluster --out, migration --out (pseudonymised)."""
    from service_support import small_dataset

    tx = small_dataset().transactions
    tx = tx[tx["customer_id"].isin(tx["customer_id"].drop_duplicates().iloc[:150])]
    csv, ws = tmp_path / "small.csv", tmp_path / "ws"
    tx[["customer_id", "invoice_id", "date", "quantity", "unit_price", "product_id", "country"]].to_csv(csv, index=False)
    assert main(["cluster", str(csv), "--k", "3", "--out", str(tmp_path / "c.csv"), "--workspace", str(ws)]) == 0
    assert main(["migration", str(csv), "--out", str(tmp_path / "m.csv"), "--workspace", str(ws),
                 "--pseudonymise"]) == 0
    moved = pd.read_csv(tmp_path / "m.csv", dtype=str)
    assert moved["customer_id"].str.fullmatch(r"[0-9a-f]{64}").all()
    assert not set(moved["customer_id"]) & set(tx["customer_id"].astype(str))
    rows = audit.read_records(ws, action="export")
    assert [(r["object"], r["pseudonymised"]) for r in rows] == \
        [("cluster assignments", False), ("segment movement customers", True)]
    assert rows[1]["rows"] == len(moved)
