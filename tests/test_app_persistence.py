"""Nothing lost, plain language, first open (AppTest through the real router): Model-lab results, the snapshot date
and k survive a reload (a new session on the same workspace); the browser cookie brings the last workspace back at
the plain address and a browser without it gets a new one; an address naming no workspace (a typed ?ws=, an unknown or
an old short id) is refused and creates nothing, and ids have 128 random bits; money shows the dataset's currency (none for basket logs);
the first open explains the app in three steps."""
from __future__ import annotations

import json
from datetime import date

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from app import keys, state
from conftest import APP
from pipeline.config import workspace_root
from pipeline.store import Workspace, is_workspace_id, new_workspace_id

TRAIN = "FormSubmitter:lab_train-Train"


def _reload(ws_id: str | None) -> AppTest:
    """A new browser session; ``ws_id`` plays the ?ws= of the address (None: the plain address)."""
    at = AppTest.from_file(APP, default_timeout=300)
    if ws_id:
        at.query_params["ws"] = ws_id
    return at.run()


def _sample(at) -> AppTest:
    at.button(key="sample_synthetic").click().run()
    assert not at.exception and not at.error
    return at


def test_first_open_paragraph_and_three_steps(at):
    texts = [m.value for m in at.markdown]
    assert any(t.startswith("This app turns your sales export") for t in texts)
    steps = next(t for t in texts if t.startswith("**1. Load data**"))
    assert "**2. Overview**" in steps and "**3. RFM segments**" in steps


def test_money_in_the_dataset_currency_and_editable(at):
    _sample(at)
    # UK sample: pounds; 2,151 lines without a customer id belong to orders that name one (the order-level fill)
    assert next(m for m in at.metric if m.label == "Revenue").value == "£2,001,086"
    assert any("Guessed because 85% of the purchases" in c.value for c in at.caption)
    at.selectbox(key="currency_sample-synthetic").set_value("EUR").run()
    assert not at.exception and next(m for m in at.metric if m.label == "Revenue").value == "€2,001,086"
    at.switch_page("pages/rfm.py").run()
    assert next(m for m in at.metric if m.label == "Revenue").value == "€2,001,086"
    ws_id = at.session_state["workspace_id"]
    assert Workspace(ws_id).load_dataset("sample-synthetic").extra["currency"] == "EUR"   # kept with the dataset


def test_basket_log_shows_no_currency(at):
    data = b"member,date,item\n1,2020-01-01,milk\n1,2020-02-01,bread\n2,2020-02-03,milk\n3,2020-03-01,eggs\n"
    at.file_uploader(key="uploader").upload("basket.csv", data, "text/csv")
    at.run()
    assert not at.exception
    ds = Workspace(at.session_state["workspace_id"]).list_datasets()
    if not ds or ds[0].get("report", {}).get("monetary_unit") != "items":
        pytest.skip("this ingest does not read basket logs (items) yet")
    assert next(m for m in at.metric if m.label == "Items bought").value == "4 items"
    assert any("no currency is shown" in c.value for c in at.caption)
    assert not [s for s in at.selectbox if str(s.key).startswith("currency_")]
    at.switch_page("pages/rfm.py").run()
    assert not at.exception and next(m for m in at.metric if m.label == "Items bought").value == "4 items"
    assert not any(sym in m.value for m in at.metric for sym in "£€$")


def test_snapshot_and_segments_survive_a_reload(at):
    _sample(at)
    at.switch_page("pages/rfm.py").run()
    at.date_input(key="rfm_snapshot_sample-synthetic").set_value(date(2024, 6, 30)).run()
    customers = next(m for m in at.metric if m.label == "Customers").value
    again = _reload(at.session_state["workspace_id"])
    again.switch_page("pages/rfm.py").run()
    assert not again.exception
    assert again.date_input(key="rfm_snapshot_sample-synthetic").value == date(2024, 6, 30)
    assert next(m for m in again.metric if m.label == "Customers").value == customers
    tree = next(c for c in again.get("plotly_chart") if '"treemap"' in c.proto.spec)
    spec = json.dumps(json.loads(tree.proto.spec), ensure_ascii=False)   # "£" or "\\u00a3": same figure
    assert "mean_monetary" not in spec and "Avg spend: £" in spec


@pytest.mark.slow
def test_model_lab_results_survive_a_reload(at):
    _sample(at)
    at.switch_page("pages/model_lab.py").run()
    at.multiselect(key="lab_models").set_value(["logreg"]).run()
    at.button(key=TRAIN).click().run()
    assert not at.exception and not at.error
    sentence = next(m.value for m in at.markdown if "ranks riskiest" in m.value)
    before = next(df.value for df in at.dataframe if "Role" in df.value.columns)      # the metric table, worded
    again = _reload(at.session_state["workspace_id"])
    again.switch_page("pages/model_lab.py").run()
    assert not again.exception
    assert next(m.value for m in again.markdown if "ranks riskiest" in m.value) == sentence
    table = next(df.value for df in again.dataframe if "Role" in df.value.columns)
    pd.testing.assert_frame_equal(table, before)
    assert (table["Role"] != "model").any()                                          # with its baseline rows
    assert again.selectbox(key="lab_save_model").options              # the fitted models came back too


def test_cookie_brings_the_workspace_back_and_a_new_browser_gets_its_own(at, monkeypatch):
    ws_id = at.session_state["workspace_id"]                                # the first run writes the cookie
    assert any("document.cookie = 'segments_ws=" + ws_id in h.proto.body for h in at.get("html"))
    _sample(at)
    assert not at.get("html")                                               # once per session
    monkeypatch.setattr(state, "_cookie_workspace", lambda cookies: ws_id)  # the same browser: cookie sent
    same = _reload(None)
    assert same.session_state["workspace_id"] == ws_id and same.query_params["ws"] in (ws_id, [ws_id])
    assert "sample-synthetic" in [m["id"] for m in Workspace(ws_id).list_datasets()]
    monkeypatch.setattr(state, "_cookie_workspace", lambda cookies: None)   # another browser: no cookie
    other = _reload(None)
    assert other.session_state["workspace_id"] != ws_id
    assert not Workspace(other.session_state["workspace_id"]).list_datasets()


def test_cookie_ids_are_checked(tmp_path):
    assert not Workspace.exists("../etc", tmp_path) and not Workspace.exists("x'; alert(1)//", tmp_path)
    assert not Workspace.exists("abc", tmp_path)                              # valid but not on disk: not used
    Workspace("abc", tmp_path)
    assert Workspace.exists("abc", tmp_path) and not Workspace.exists(None, tmp_path)
    made, old = Workspace(new_workspace_id()), Workspace("0123456789ab")     # an app-made id; an earlier 48-bit one
    Workspace("demo")
    cookie = keys.WORKSPACE_COOKIE
    assert state._cookie_workspace({cookie: made.id}) == made.id
    for value in ("demo", old.id, new_workspace_id(), "../etc", made.id.upper(), made.id + "0", ""):
        assert state._cookie_workspace({cookie: value}) is None, value       # ignored: a new workspace instead
    assert state._cookie_workspace({}) is None


def test_workspace_ids_have_128_random_bits():
    ids = [new_workspace_id() for _ in range(2000)]
    assert all(len(i) == 32 and set(i) <= set("0123456789abcdef") and is_workspace_id(i) for i in ids)
    assert len(set(ids)) == len(ids)
    bits = "".join(f"{int(i, 16):0128b}" for i in ids)                      # 256,000 bits: about half are ones
    assert 0.49 < bits.count("1") / len(bits) < 0.51
    for position in range(32):                                              # every digit varies at every place
        assert len({i[position] for i in ids}) == 16
    for typed in ("demo", "0123456789ab", "A" * 32, "g" * 32, ids[0] + "\n", None, 12):
        assert not is_workspace_id(typed)


def _folders() -> set[str]:
    root = workspace_root()
    return {p.name for p in root.iterdir()} if root.exists() else set()


def test_an_address_that_names_no_workspace_is_refused_and_creates_nothing():
    """``?ws=`` opens only the unguessable id of an existing workspace: a typed name, a well-formed id of no
    workspace, a short id of an earlier version (even one on disk) or a path are refused with one plain message
    (the same whatever was typed), nothing is drawn from a workspace and no folder is made."""
    Workspace("0123456789ab")                                               # made by an earlier version
    before = _folders()
    for asked in ("demo", new_workspace_id(), "0123456789ab", "../etc", "x'; alert(1)//"):
        at = _reload(asked)
        assert not at.exception, asked
        assert [e.value for e in at.error] == [state.REFUSED_WORKSPACE], asked
        assert keys.WORKSPACE not in at.session_state and not at.sidebar.selectbox, asked
        assert _folders() == before, asked
    made = Workspace(new_workspace_id())                                   # an existing workspace opens
    at = _reload(made.id)
    assert not at.exception and not at.error and at.session_state[keys.WORKSPACE] == made.id


def test_with_the_password_on_the_sign_in_comes_before_any_workspace_answer():
    """The optional password still guards the app: a ``?ws=`` is judged only after signing in (so an outsider cannot
    even learn whether an id exists), then a typed one is refused and an existing one opens."""
    made = Workspace(new_workspace_id())
    before = _folders()
    for asked, opens in (("demo", False), (made.id, True)):
        at = AppTest.from_file(APP, default_timeout=120)
        at.secrets["password"] = "s3cret"
        at.query_params["ws"] = asked
        at.run()
        assert at.text_input[0].label == "Password" and not at.error and keys.WORKSPACE not in at.session_state
        at.text_input[0].input("s3cret")
        at.button[0].click().run()
        assert not at.exception and [e.value for e in at.error] == ([] if opens else [state.REFUSED_WORKSPACE])
        assert at.session_state[keys.WORKSPACE] == made.id if opens else keys.WORKSPACE not in at.session_state
        assert _folders() == before


def _ds_param(at) -> str | None:
    v = at.query_params.get("ds")
    return v[0] if isinstance(v, list) else v


def test_reload_and_links_keep_the_dataset_picked_in_the_sidebar(at):
    """Two datasets, the older one picked in the sidebar: the address names it (?ds=), so a reload opens it again
    (it used to open the newest); the plain address reopens the workspace's last pick; a link naming the other
    dataset opens that one. (AppTest draws the sidebar on a session's first run only: each step is a new session.)"""
    from app import keys

    _sample(at)
    at.button(key="sample_cdnow").click().run()
    assert not at.exception and at.session_state[keys.DATASET] == "sample-cdnow"
    assert _ds_param(at) == "sample-cdnow"
    ws_id = at.session_state["workspace_id"]

    def opened(**params) -> AppTest:
        again = AppTest.from_file(APP, default_timeout=300)
        for k, v in params.items():
            again.query_params[k] = v
        again.run()
        assert not again.exception
        return again

    first = opened(ws=ws_id)
    assert first.sidebar.selectbox(key=keys.SIDEBAR_DATASET).value == "sample-cdnow"
    first.sidebar.selectbox(key=keys.SIDEBAR_DATASET).select("sample-synthetic").run()
    assert not first.exception and _ds_param(first) == "sample-synthetic"
    reload = opened(ws=ws_id, ds=_ds_param(first))                   # the same address, a new session
    assert reload.sidebar.selectbox(key=keys.SIDEBAR_DATASET).value == "sample-synthetic"
    assert reload.session_state[keys.DATASET] == "sample-synthetic"
    plain = opened(ws=ws_id)                                           # the workspace only (bookmark, cookie)
    assert plain.sidebar.selectbox(key=keys.SIDEBAR_DATASET).value == "sample-synthetic"
    assert _ds_param(plain) == "sample-synthetic"
    link = opened(ws=ws_id, ds="sample-cdnow")                        # a link naming the other dataset
    assert link.sidebar.selectbox(key=keys.SIDEBAR_DATASET).value == "sample-cdnow"
    unknown = opened(ws=ws_id, ds="no-such-dataset")                  # a deleted dataset: the last pick
    assert unknown.session_state[keys.DATASET] == "sample-synthetic" and _ds_param(unknown) == "sample-synthetic"


def _two_customer_tables(at, shift: int) -> tuple[str, str]:
    """Mall_Customers.csv, then a second shop's table (ids shifted by ``shift``, ages one higher) made current;
    returns the two dataset ids."""
    import io


    from app import keys
    from conftest import dataset

    raw = dataset("Mall_Customers.csv").read_bytes()
    other = pd.read_csv(io.BytesIO(raw), dtype={"CustomerID": str})
    other["CustomerID"] = [f"{int(c) + shift:04d}" for c in other["CustomerID"]]
    other["Age"] += 1
    ids = []
    for name, data in (("Mall_Customers.csv", raw), ("Other_shop.csv", other.to_csv(index=False).encode())):
        at.file_uploader(key="uploader").upload(name, data, "text/csv")
        at.run()
        assert not at.exception and not at.error
        ids.append(at.session_state[keys.DATASET])
    return ids[0], ids[1]


def _open(ws_id: str, page: str | None = None, **params) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["ws"] = ws_id
    for k, v in params.items():
        at.query_params[k] = v
    if page:
        at.switch_page(page)
    return at.run()


def test_card_link_opens_the_dataset_that_holds_the_customer(at):
    """A card link opens its customer's dataset: with ?ds= (every address names it now) directly; an older link
    without it, to a customer of a saved dataset that is not the active one, switches to that dataset and says so
    (it used to open on the active dataset with a red 'not in this dataset' error)."""
    from app import keys

    mall, other = _two_customer_tables(at, shift=1000)              # the other shop (ids 1001…1200) is active
    ws_id = at.session_state["workspace_id"]
    old = _open(ws_id, "pages/customer.py", customer="0003")        # no ?ds=: 0003 is only in Mall
    assert not old.exception and not old.error
    assert old.session_state[keys.DATASET] == mall and _ds_param(old) == mall
    assert old.selectbox(key=keys.CUSTOMER_ID).value == "0003"
    assert any("Customer 0003 is in 'Mall_Customers.csv'" in i.value for i in old.info)
    new = _open(ws_id, "pages/customer.py", ds=other, customer="1005")
    assert not new.exception and not new.error and new.session_state[keys.DATASET] == other
    assert new.selectbox(key=keys.CUSTOMER_ID).value == "1005"
    assert _ds_param(new) == other and new.query_params["customer"] in ("1005", ["1005"])
    missing = _open(ws_id, "pages/customer.py", customer="9999")     # in no dataset: the page says so, no switch
    assert not missing.exception and missing.session_state[keys.DATASET] == mall     # the last pick
    assert missing.error


def test_a_switch_of_dataset_starts_the_card_empty(at):
    """Customer 0003 of one shop is another person in the other shop's table: after a switch of dataset the picker
    and ?customer= start empty (the picker used to keep 0003 and show the other shop's 0003)."""
    from app import keys

    mall, other = _two_customer_tables(at, shift=0)                 # the same ids in both tables
    at.switch_page("pages/customer.py").run()
    at.selectbox(key=keys.CUSTOMER_ID).set_value("0003").run()
    assert not at.exception and at.query_params["customer"] in ("0003", ["0003"])
    at.session_state[keys.DATASET] = mall                            # what the sidebar's pick does
    at.run()
    assert not at.exception and not at.error and at.session_state[keys.DATASET] == mall
    assert at.selectbox(key=keys.CUSTOMER_ID).value is None and "customer" not in at.query_params
    assert _ds_param(at) == mall


def test_inputs_picked_for_one_dataset_are_not_used_on_another(at):
    """A test cutoff (or a send date, a column, a customer…) picked for one dataset is cleared when another dataset
    becomes current (it used to carry over: a 2024 cutoff applied to CDNOW's 1997-98 purchases); the other dataset's
    own inputs (keys carrying its id) and the session's per-dataset results stay."""
    from datetime import date

    from app import keys

    _sample(at)
    at.button(key="sample_cdnow").click().run()
    at.session_state[keys.DATASET] = "sample-synthetic"                # the sidebar's pick
    at.switch_page("pages/model_lab.py").run()
    assert not at.exception
    at.date_input(key="lab_cutoff").set_value(date(2024, 3, 1)).run()
    assert at.date_input(key="lab_cutoff").value == date(2024, 3, 1)
    at.session_state[keys.LAB_RESULTS] = {"kept": 1}
    at.session_state[keys.SELECTION] = ["10001"]
    at.session_state[keys.DATASET] = "sample-cdnow"                   # the sidebar's pick: another dataset
    at.run()
    assert not at.exception and at.session_state[keys.DATASET] == "sample-cdnow"
    assert at.date_input(key="lab_cutoff").value is None
    assert keys.SELECTION not in at.session_state and at.session_state[keys.LAB_RESULTS] == {"kept": 1}
