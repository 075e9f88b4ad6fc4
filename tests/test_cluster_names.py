"""Cluster names are true of the customers they are given to (issue 19, item 8).

Every word of a cluster's name ("recent", "frequent", "high spend", "older", ...) is checked here independently of
pipeline.cluster.naming, with pandas, from the customers' own values: a word holds for a customer when the value is
above the dataset's median ("high" words: "lapsed", "frequent", "high spend", "older", "high income"), at or below
it ("low" words) or between its quartiles ("average income"; "average": on every feature); a strong word ("very
frequent", "much older", "long lapsed") is beyond the upper / at or below the lower quartile. A cluster's name:
each word holds for >= 80% of its members. One customer's name (card, what-if, the Clusters page): each word holds
for that customer, or the customer is "unlike any group".
"""
from __future__ import annotations

import re

import pandas as pd
import pytest
from conftest import dataset

from pipeline.cluster import UNLIKE_NAME, cluster_customers, clustering_input
from pipeline.customer.clusters import ClusterAssigner, default_cluster_assigner, saved_cluster_assigner

INCOME, SCORE = "Annual Income (k$)", "Spending Score (1-100)"

#: word -> (column, True if the word means "above the median", False if "at or below it")
WORDS = {"lapsed": ("recency_days", True), "recent": ("recency_days", False),
         "frequent": ("frequency", True), "infrequent": ("frequency", False),
         "high spend": ("monetary", True), "low spend": ("monetary", False),
         "older": ("Age", True), "younger": ("Age", False),
         "high income": (INCOME, True), "low income": (INCOME, False),
         "high spending score": (SCORE, True), "low spending score": (SCORE, False),
         "average recency": ("recency_days", None), "average frequency": ("frequency", None),
         "average spend": ("monetary", None), "middle-aged": ("Age", None), "average income": (INCOME, None),
         "average spending score": (SCORE, None)}
AVERAGE = {"recency_days", "frequency", "monetary"}, {"Age", INCOME, SCORE}    # "average": middle on every one
#: strong words: above the upper quartile ("very frequent") or at or below the lower one ("very recent")
STRONG = {"much older": "older", "much younger": "younger", "long lapsed": "lapsed",
          **{f"very {w}": w for w, (_, high) in WORDS.items() if high is not None}}
RECENT_OR_FREQUENT = {"recent", "frequent", "very recent", "very frequent"}
NEUTRAL = re.compile(r"Group -?\d+ — mixed|noise")


def words_of(name: str) -> list[str]:
    """The words of a name (a numbering suffix like " (2)" dropped); [] for the neutral name."""
    name = re.sub(r" \(\d+\)$", "", name)
    if NEUTRAL.fullmatch(name):
        return []
    parts = name.split(", ")
    unknown = [p for p in parts if p not in WORDS and p not in STRONG and p != "average"]
    assert not unknown, f"name {name!r} has words this test cannot check: {unknown}"
    return parts


def holds(table: pd.DataFrame, word: str) -> pd.Series:
    if word == "average":
        cols = next(c for c in AVERAGE if c <= set(table.columns))
        return pd.concat([_middle(table[c]) for c in cols], axis=1).all(axis=1)
    if word in STRONG:
        col, high = WORDS[STRONG[word]]
        return table[col] > table[col].quantile(0.75) if high else table[col] <= table[col].quantile(0.25)
    col, high = WORDS[word]
    if high is None:
        return _middle(table[col])
    median = table[col].median()
    return table[col] > median if high else table[col] <= median


def _middle(values: pd.Series) -> pd.Series:
    return values.between(values.quantile(0.25), values.quantile(0.75))


def share_true(table: pd.DataFrame, labels: pd.Series, names: dict) -> dict[tuple[int, str], float]:
    """(cluster, word) -> share of the cluster's members for whom the word holds."""
    out = {}
    for cid, name in names.items():
        members = table[labels.to_numpy() == cid]
        for word in words_of(name):
            out[(cid, word)] = float(holds(table, word)[members.index].mean())
    return out


# ------------------------------------------------------------------------------------------------------------ data
def _tx_table(ds) -> pd.DataFrame:
    from pipeline.features import customer_features

    return customer_features(ds.transactions, ds.returns)


@pytest.fixture(scope="module")
def synthetic() -> tuple[pd.DataFrame, str]:
    from pipeline.ingest import sample_dataset

    return _tx_table(sample_dataset("synthetic")), "transactions"


@pytest.fixture(scope="module")
def online_retail() -> tuple[pd.DataFrame, str]:
    from pipeline.ingest import build_dataset

    return _tx_table(build_dataset(dataset("online_retail.csv"), "online_retail.csv")), "transactions"


@pytest.fixture(scope="module")
def mall() -> tuple[pd.DataFrame, str]:
    from pipeline.ingest import build_dataset

    ds = build_dataset(dataset("Mall_Customers.csv"), "Mall_Customers.csv")
    return ds.customers.set_index("customer_id"), "customers"


_ASSIGNERS: dict[str, ClusterAssigner] = {}


def _assigner(request, name: str) -> tuple[pd.DataFrame, ClusterAssigner]:
    table, kind = request.getfixturevalue(name)
    if name not in _ASSIGNERS:
        _ASSIGNERS[name] = default_cluster_assigner(table, kind)
    return table, _ASSIGNERS[name]


DATASETS = ["synthetic", "online_retail", "mall"]


# ------------------------------------------------------------------------------------------------------------ tests
@pytest.mark.parametrize("name", DATASETS)
def test_every_word_of_every_default_cluster_name_holds_for_80_percent_of_its_members(request, name):
    table, a = _assigner(request, name)
    shares = share_true(table, a.labels.reindex(table.index.astype(str)), a.names)
    failing = {k: round(v, 3) for k, v in shares.items() if v < 0.8}
    assert not failing, f"{name}: words true of < 80% of their cluster: {failing} (names {a.names})"
    assert sum(bool(words_of(n)) for n in a.names.values()) >= 2, f"{name}: names say nothing: {a.names}"


@pytest.mark.parametrize("name", DATASETS)
def test_no_customer_is_called_what_they_are_not(request, name):
    """The card's cluster name (the table's ``cluster_name``): every word holds for that very customer, so a
    one-order customer is never "frequent"; otherwise the customer is "unlike any group"."""
    table, a = _assigner(request, name)
    t = table.copy()
    a.attach(t)
    named = t[t["cluster_name"] != UNLIKE_NAME]
    assert len(named) >= 0.8 * len(t), "most customers keep a name"
    for word in sorted({w for n in named["cluster_name"].unique() for w in words_of(n)}):
        given = named["cluster_name"].map(lambda n: word in words_of(n))
        wrong = given & ~holds(t, word)[named.index]
        assert not wrong.any(), f"{name}: {int(wrong.sum())} customers called {word!r} are not, e.g. " \
                                f"{named[wrong].head(3).to_dict('records')}"
    if "frequency" in t:
        assert not t.loc[t["frequency"] == 1, "cluster_name"].str.contains(r"\bfrequent\b").any()


def test_clusters_page_default_names_hold_for_80_percent():
    """The Clusters page's default run (clustering_input's default features and log mode) on the sample."""
    from pipeline.cluster import log_columns
    from pipeline.ingest import sample_dataset

    ds = sample_dataset("synthetic")
    inp = clustering_input("transactions", ds.transactions, ds.returns)
    feats = inp.default_features
    run = cluster_customers(inp.table, feats, "kmeans", None, log_cols=log_columns(inp.table, feats, "all"))
    names = dict(zip(run.profiles["cluster"], run.profiles["name"]))
    shares = share_true(inp.table, pd.Series(run.fit.labels), names)
    assert shares and min(shares.values()) >= 0.8, shares


@pytest.mark.parametrize("name", ["synthetic", "online_retail"])
def test_what_if_400_days_one_order_is_never_recent_or_frequent(request, name):
    table, a = _assigner(request, name)
    spends = list(table["monetary"].quantile([0.01, 0.25, 0.5, 0.75, 0.99, 1.0])) + [table["monetary"].max() * 3]
    for monetary in spends:
        row = {"recency_days": 400.0, "frequency": 1.0, "monetary": float(monetary), "tenure_days": 400.0}
        said = a.name(a.assign(row), row)
        assert said and not RECENT_OR_FREQUENT & set(words_of(said) if said != UNLIKE_NAME else []), \
            f"{name}: 400 days / 1 order / {monetary:,.0f} called {said!r}"


def test_what_if_through_the_scorer_never_calls_a_lapsed_one_order_customer_recent_or_frequent():
    from pipeline import customer as pf
    from pipeline.ingest import generate_transactions
    from pipeline.store import Dataset

    tx, ret = generate_transactions(n_customers=400, seed=3)
    scorer = pf.build_scorer(Dataset("t400", "synthetic 400", "transactions", transactions=tx, returns=ret))
    best = str(scorer.table["monetary"].idxmax())
    for cid in (best, str(scorer.table["frequency"].idxmax())):
        res = pf.what_if(scorer, {"recency_days": 400, "frequency": 1, "tenure_days": 400}, cid)
        assert res.cluster_name and not RECENT_OR_FREQUENT & set(res.cluster_name.split(", ")), res.cluster_name
    own = pf.what_if(scorer, {}, best)                       # at the customer's own values: the card's name
    assert own.cluster_name == scorer.table.loc[best, "cluster_name"]


@pytest.mark.parametrize("name", DATASETS)
def test_far_away_customer_is_unlike_any_group(request, name):
    table, a = _assigner(request, name)
    row = {f: float(pd.to_numeric(table[f]).max()) * 50 for f in a.transformer.numeric_}
    if "recency_days" in row:
        row["recency_days"] = 1.0
    assert a.name(a.assign(row), row) == UNLIKE_NAME
    largest = table[a.labels.reindex(table.index.astype(str)).to_numpy() == 0]
    typical = {f: float(pd.to_numeric(largest[f]).median()) for f in a.transformer.numeric_}
    assert a.name(a.assign(typical), typical) == a.names[0]          # the middle of a group: its name


def test_saved_clustering_keeps_typed_names_and_regenerates_contradicting_generated_ones(request):
    """A saved clustering: the analyst's typed name is theirs (but far customers are still "unlike any group");
    a generated name saved by the old naming ("frequent, recent, high spend" on lapsed customers) is made true."""
    table, a = _assigner(request, "online_retail")
    assignments = pd.DataFrame({"customer_id": a.labels.index, "cluster": a.labels.to_numpy()})
    lapsed = int(pd.Series(table["recency_days"].to_numpy()).groupby(a.labels.to_numpy()).mean().idxmax())
    typed = next(c for c in a.names if c not in (lapsed, -1))
    meta = {"method": "kmeans", "k": len(a.names), "features": ["recency_days", "frequency", "monetary"],
            "options": {"log_cols": ["recency_days", "frequency", "monetary"]},
            "names": {str(c): n for c, n in a.names.items()} | {str(lapsed): "frequent, recent, high spend",
                                                                   str(typed): "VIPs to call"}}
    saved = saved_cluster_assigner(table, assignments.assign(cluster_name=""), meta)
    assert saved.names[typed] == "VIPs to call"
    assert "recent" not in words_of(saved.names[lapsed])
    t = table.copy()
    saved.attach(t)
    members = t[t["cluster"] == typed]
    assert set(members["cluster_name"]) == {"VIPs to call", UNLIKE_NAME}
    far = {"recency_days": 1.0, "frequency": 1e5, "monetary": 1e10}
    assert saved.name(typed, far) == UNLIKE_NAME


def test_clusters_page_calls_a_far_new_customer_unlike_any_group(app):
    """The Clusters page (AppTest from streamlit_app.py): a new customer far from every group is "unlike any group"
    in the message and on the star; one in the middle of a group gets that group's name."""
    import json

    at = app
    at.file_uploader(key="uploader").upload("Mall_Customers.csv", dataset("Mall_Customers.csv").read_bytes(),
                                            "text/csv")
    at.run()
    at.switch_page("pages/clusters.py").run()
    next(m for m in at.multiselect if m.label == "Features").set_value([INCOME, SCORE]).run()
    at.toggle(key="clu_new_on").set_value(True)
    inputs = {n.label: n for n in at.number_input}
    inputs[INCOME].set_value(2000.0)
    inputs[SCORE].set_value(1.0).run()
    assert not at.exception
    assert any(UNLIKE_NAME in w.value for w in at.warning), [w.value for w in at.warning]
    star = next(t for c in at.get("plotly_chart") for t in json.loads(c.proto.spec)["data"]
                if t.get("name", "").startswith("new customer"))
    assert UNLIKE_NAME in star["hovertemplate"]
    profiles = at.data_editor[0].value
    rich = profiles[(profiles[INCOME] > 60) & (profiles[SCORE] > 50)].iloc[0]
    inputs = {n.label: n for n in at.number_input}
    inputs[INCOME].set_value(float(rich[INCOME]))
    inputs[SCORE].set_value(float(rich[SCORE])).run()
    assert f"cluster {rich['cluster']}: {rich['name']}" in at.success[0].value


# ---- how a customer's cluster reads beside its number (issue 19, item 8) -----------------------------------------
def test_a_customer_unlike_any_group_is_never_shown_as_in_the_nearest_cluster():
    """"Cluster 3: unlike any group" reads as if the customer were in cluster 3: the label says they are in no
    group and names the nearest one second; a named customer reads "Cluster 3: <name>"."""
    from pipeline.customer.clusters import cluster_label

    names = {3: "frequent, recent"}
    assert cluster_label(3, UNLIKE_NAME, names) == "Unlike any group (nearest: cluster 3 — frequent, recent)"
    assert cluster_label(3, UNLIKE_NAME) == "Unlike any group (nearest: cluster 3)"
    assert cluster_label(3, "recent", names) == "Cluster 3: recent"
    assert cluster_label(-1, "noise", names) == "In no cluster (noise)" and cluster_label(None, "", names) == ""
    assert [cluster_label(c, n, names, short=True) for c, n in ((3, UNLIKE_NAME), (3, "recent"), (None, ""))] == \
        ["none (nearest 3)", "3", "–"]


def test_card_what_if_and_service_json_label_a_far_customer_unlike_any_group():
    """Through the scorer: a what-if far from every centre and any card whose customer is "unlike any group"
    carry the label (the card's JSON, which the service returns, too); other cards read "Cluster N: name"."""
    from pipeline import customer as pf
    from pipeline.ingest import generate_transactions
    from pipeline.store import Dataset

    tx, ret = generate_transactions(n_customers=400, seed=3)
    scorer = pf.build_scorer(Dataset("t400", "synthetic 400", "transactions", transactions=tx, returns=ret))
    names = scorer.clusters.names
    far = pf.what_if(scorer, {"recency_days": 1, "frequency": 500, "monetary": 5e7, "tenure_days": 2000})
    assert far.cluster_name == UNLIKE_NAME, far.cluster_name
    assert far.cluster_label == f"Unlike any group (nearest: cluster {far.cluster} — {names[far.cluster]})"
    t = scorer.table
    unlike, named = t.index[t["cluster_name"] == UNLIKE_NAME], t.index[t["cluster_name"] != UNLIKE_NAME]
    assert len(unlike) and len(named)
    for cid in (unlike[0], named[0]):
        card = pf.customer_profile(scorer, cid, timeline=False)
        c = int(t.loc[cid, "cluster"])
        want = f"Unlike any group (nearest: cluster {c} — {names[c]})" if cid in unlike else \
            f"Cluster {c}: {t.loc[cid, 'cluster_name']}"
        assert card.cluster_label == want and card.to_json()["cluster_label"] == want
        assert pf.what_if(scorer, {}, cid).cluster_label == want          # the what-if at their own values
