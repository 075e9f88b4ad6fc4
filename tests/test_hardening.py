"""Session isolation, crash-safe workspace writes, the optional access gate and log hygiene."""
from __future__ import annotations

import hashlib
import logging
import subprocess
import sys
import textwrap

import pytest
from streamlit.testing.v1 import AppTest

from conftest import APP, ROOT
from fixtures import as_bytes
from pipeline.store import Workspace


def _session(name: str) -> AppTest:
    """A new session at ``?ws=`` of the workspace this test calls ``name`` (made first: the app opens only an existing
    workspace by its 32-hex-digit id, never a name typed in the address)."""
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["ws"] = Workspace(hashlib.sha256(name.encode()).hexdigest()[:32]).id
    return at.run()


def _upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.file_uploader(key="uploader").upload(name, data, "text/csv")
    return at.run()


def _dataset_names(ws_id: str) -> list[str]:
    """The sidebar's dataset list as a fresh session of that workspace sees it (AppTest reruns only the page
    after the first run, so the router's sidebar is read from a new session, like a browser reload)."""
    box = [s for s in _session(ws_id).sidebar.selectbox if s.label == "Saved datasets"]
    return list(box[0].options) if box else []


def test_two_sessions_never_see_each_other():
    a, b = _session("alice"), _session("bob")
    _upload(a, "alice.csv", as_bytes("csv_utf8")[1])
    _upload(b, "bob.csv", b"cust,order_date,revenue\nx1,2020-01-01,5\nx2,2020-01-02,6\nx3,2020-02-01,7\n")
    assert [n.split(" ·")[0] for n in _dataset_names("alice")] == ["alice.csv"]
    assert [n.split(" ·")[0] for n in _dataset_names("bob")] == ["bob.csv"]
    a.switch_page("pages/rfm.py").run()
    b.switch_page("pages/rfm.py").run()
    assert a.metric[0].value == "3" and b.metric[0].value == "3"
    lists = [d.value for d in a.dataframe if "customer_id" in d.value.columns]
    assert lists and set(lists[0]["customer_id"]) == {"0042", "0007", "0100"}


@pytest.mark.slow
def test_ten_concurrent_sessions_no_cross_talk():
    sessions = {f"s{i}": _session(f"s{i}") for i in range(10)}
    for i, (ws, at) in enumerate(sessions.items()):       # each uploads its own data, interleaved
        rows = "".join(f"c{i}_{j},2020-01-{j + 1:02d},{j + 1}\n" for j in range(i + 2))
        _upload(at, f"{ws}.csv", ("customer,date,amount\n" + rows).encode())
    for i, (ws, at) in enumerate(sessions.items()):
        at.switch_page("pages/rfm.py").run()
        assert not at.exception and not at.error
        assert at.metric[0].value == str(i + 2)             # its own number of customers, nobody else's
        assert _dataset_names(ws) == [f"{ws}.csv · transactions"]


def test_reload_and_restart_keep_the_dataset():
    at = _session("keeper")
    _upload(at, "t.csv", as_bytes("csv_utf8")[1])
    again = _session("keeper")                              # a new session with the same address
    assert _dataset_names("keeper") == ["t.csv · transactions"]
    again.switch_page("pages/rfm.py").run()
    assert again.metric[0].value == "3"


_CRASH = textwrap.dedent("""
    import os, signal, sys
    sys.path[:0] = [{root!r}, {tests!r}]
    import pandas as pd
    from fixtures import as_bytes
    from pipeline.ingest import build_dataset
    from pipeline.store import Workspace
    ws = Workspace("crash")
    name, data = as_bytes("csv_utf8")
    path = ws.stage_upload(data, name)
    ds = build_dataset(path, name)
    ws.save_dataset(ds)                                   # version 1, complete
    ds.name = "version 2"
    target = {target!r}
    if target == "parquet":                               # die after the first Parquet file of version 2
        real = pd.DataFrame.to_parquet
        def dying(self, *a, **k):
            real(self, *a, **k)
            os.kill(os.getpid(), signal.SIGKILL)
        pd.DataFrame.to_parquet = dying
    else:                                                 # die between the two renames of the swap
        real = os.replace
        calls = []
        def dying(src, dst):
            real(src, dst)
            calls.append(1)
            if len(calls) == 1:
                os.kill(os.getpid(), signal.SIGKILL)
        os.replace = dying
    ws.save_dataset(ds)
""")


@pytest.mark.parametrize("target", ["parquet", "rename"])
def test_crash_mid_save_keeps_previous_version(target, _workspace):
    code = _CRASH.format(root=str(ROOT), tests=str(ROOT / "tests"), target=target)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == -9, r.stderr                     # killed half-way
    ws = Workspace("crash")
    metas = ws.list_datasets()
    assert [m["name"] for m in metas] == ["t.csv"]          # version 1, intact
    ds = ws.load_dataset(metas[0]["id"])
    assert len(ds.transactions) == 5 and ds.report["customers"] == 3


def test_access_gate_off_by_default_and_on_with_a_password():
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.text_input and at.title[0].value == "Upload"
    gated = AppTest.from_file(APP, default_timeout=60)
    gated.secrets["password"] = "s3cret"
    gated.run()
    assert gated.text_input[0].label == "Password" and not [t for t in gated.title if t.value == "Upload"]
    gated.text_input[0].input("wrong")
    gated.button[0].click().run()
    assert gated.error[0].value == "Wrong password."
    gated.text_input[0].input("s3cret")
    gated.button[0].click().run()
    assert not gated.exception and gated.title[0].value == "Upload"


def test_logs_have_timings_but_no_customer_values(caplog):
    from pipeline.ingest import clean_frame
    from pipeline.rfm import rfm_table
    from fixtures import frame

    logger = logging.getLogger("pipeline")
    logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.INFO, logger="pipeline"):
            rfm_table(clean_frame(frame()).transactions)
    finally:
        logger.removeHandler(caplog.handler)
    records = [r for r in caplog.records if r.name == "pipeline"]
    assert {r.getMessage() for r in records} >= {"clean", "rfm"}
    assert all("seconds" in r.fields for r in records)
    text = " ".join(str(r.fields) for r in records)
    for secret in ("0042", "0007", "Café", "Teapot", "102.0"):
        assert secret not in text
