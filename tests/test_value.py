"""Grading the card's predictions out of time (pipeline.value) and what the card may then show
(pipeline.customer.facts): hand-checked measures, a steady-buyer table where the naive baseline is exact (the card
hides what cannot beat it), hand-made grades where the model wins, loses or splits, notes that explain numbers that
seem to disagree, the card JSON, and the ``value`` CLI."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from pipeline import grading, value
from pipeline.customer.facts import CardFacts, Fact, card_facts, customer_notes
from pipeline.store import Dataset


# --------------------------------------------------------------------------------------------- the measures

def test_normalized_gini_by_hand():
    actual = [0, 0, 10, 30]
    assert grading.normalized_gini(actual, actual) == pytest.approx(1.0)
    assert grading.normalized_gini(actual, [4, 3, 2, 1]) == pytest.approx(-1.0)       # reversed ranking
    assert grading.normalized_gini(actual, [5, 5, 5, 5]) == pytest.approx(0.0)        # a constant: no ranking
    assert np.isnan(grading.normalized_gini([0, 0, 0], [1, 2, 3]))                    # nothing spent


def test_top_share_and_ties_count_as_their_average():
    actual = [100] + [0] * 9
    assert grading.top_share(actual, [9] + [1] * 9, 0.1) == pytest.approx(1.0)       # top 1 of 10 holds it all
    assert grading.top_share(actual, [1] * 10, 0.1) == pytest.approx(0.1)            # constant: the average share
    assert grading.top_sum([1, 0, 1, 0], [1, 1, 0, 0], 1) == pytest.approx(0.5)      # tied pair {1, 0} -> 0.5
    assert list(grading.ranked_actual([1, 0, 4], [2, 2, 9])) == [4.0, 0.5, 0.5]


def _tx(rows) -> pd.DataFrame:
    return pd.DataFrame([{"customer_id": c, "invoice_id": f"{c}-{i}", "date": pd.Timestamp(d), "amount": a}
                         for i, (c, d, a) in enumerate(rows)])


def test_windows_next_order_and_last_gap_by_hand():
    tx = _tx([("A", "2024-01-01", 10), ("A", "2024-01-11", 20), ("A", "2024-01-20", 5), ("A", "2024-01-20", 5),
              ("B", "2024-01-05", 50), ("C", "2024-01-01", 7), ("C", "2024-01-03", 8), ("C", "2024-03-30", 9)])
    ids = pd.Index(["A", "B", "C"])
    w = value.window_activity(tx, ids, "2024-01-15", "2024-02-14")
    assert w.loc["A"].tolist() == [10.0, 1.0] and w.loc["B"].tolist() == [0.0, 0.0]   # same day = one order
    # last observed day 2024-01-14: A orders on the 20th (6 days); C only after the 30-day window
    nxt = grading.next_order_days(tx, ids, "2024-01-15", 30)
    assert nxt["A"] == 6 and np.isnan(nxt["B"]) and np.isnan(nxt["C"])
    gap = grading.last_gap_days(tx, ids, "2024-01-15")
    assert gap["A"] == 7                   # 11th + 10-day gap = 21st, 7 days after the 14th
    assert np.isnan(gap["B"])              # one purchase day: no gap
    assert gap["C"] == 1                   # 3rd + 2 = 5th, overdue: expected on the cutoff day


# ------------------------------------------------------------------------------ the baseline is exact here

def _steady(n: int = 40) -> pd.DataFrame:
    """Half the customers buy the same amount every 30 days for two years (any 90-day window holds 3 orders, so
    "same as the last 90 days" and "the last gap repeats" are exact); the other half stopped in the first months."""
    start, rows = pd.Timestamp("2022-01-01"), []
    for i in range(n):
        stop = 730 if i % 2 == 0 else 60 + 3 * i
        for d in range(i % 30, stop, 30):
            rows.append((f"c{i:02d}", start + pd.Timedelta(days=d), 20.0 + i))
    return _tx(rows)


@pytest.fixture(scope="module")
def steady_grades():
    return value.grade_values(_steady(), None, 90)


def test_when_the_naive_baseline_is_exact_nothing_beats_it(steady_grades):
    t = steady_grades.table
    assert t.loc["spend_last", "mae"] == pytest.approx(0.0) and t.loc["orders_last", "mae"] == pytest.approx(0.0)
    assert t.loc["next_order_last_gap", "mae"] == pytest.approx(0.0) and t.loc["next_order_last_gap", "n"] == 20
    assert set(t.loc[t["role"] == "BASELINE"].index) == {"spend_last", "orders_last", "next_order_last_gap",
                                                         "p_alive_recency", "churn_btyd", "churn_recency",
                                                         "next_order_typical"}
    assert not any(steady_grades.verdict("spend_btyd").values())
    assert steady_grades.verdict("next_order_btyd") == {"mae": False, "median_ae": False}


def test_the_card_hides_what_the_baseline_beats(steady_grades):
    btyd = SimpleNamespace(kind_="bgnbd", at_boundary_=False)
    churn = SimpleNamespace(metrics={"roc_auc": 0.99})
    table = pd.DataFrame({"segment": ["A", "A"], "churn_probability": [0.1, 0.3]})
    facts = card_facts(steady_grades, btyd, churn, table, 90)
    assert facts.get("expected_spend").status == "hidden" and "Not shown" in facts.get("expected_spend").note
    # no model beats "the last gap repeats" (exact here): the card shows that rule itself, labelled as the rule
    assert facts.get("next_order_date").status == "caveat" and facts.next_source == "rule"
    assert "assuming the last gap repeats" in facts.get("next_order_date").note
    assert facts.segment_churn == {"A": pytest.approx(0.2)}


# -------------------------------------------------------------------------- hand-made grades: who wins

def _grades(spend_btyd, spend_last, next_btyd=30.0, p_alive=(0.8, 0.7), churn_base=0.7) -> value.ValueGrades:
    def reg(key, target, role, mae, gini, top, n=100):
        return {"key": key, "target": target, "model": key, "role": role, "n": n, "mae": mae, "median_ae": mae,
                "gini": gini, "top_share": top, "roc_auc": np.nan}

    def auc(key, target, role, a):
        return {"key": key, "target": target, "model": key, "role": role, "n": 100, "mae": np.nan,
                "median_ae": np.nan, "gini": np.nan, "top_share": np.nan, "roc_auc": a}

    rows = [reg("spend_btyd", "spend", "model", *spend_btyd), reg("spend_last", "spend", "BASELINE", *spend_last),
            reg("orders_btyd", "orders", "model", 1.0, 0.6, 0.4),
            reg("orders_last", "orders", "BASELINE", 1.0, 0.6, 0.4),
            reg("next_order_btyd", "next_order", "model", next_btyd, np.nan, np.nan),
            reg("next_order_last_gap", "next_order", "BASELINE", 40.0, np.nan, np.nan),
            auc("p_alive_btyd", "p_alive", "model", p_alive[0]),
            auc("p_alive_recency", "p_alive", "BASELINE", p_alive[1]),
            auc("churn_btyd", "churn", "BASELINE", churn_base)]
    return value.ValueGrades(pd.DataFrame(rows).set_index("key"), {"test_cutoff": "2024-10-01"})


FIT = SimpleNamespace(kind_="bgnbd", at_boundary_=False)
DEGENERATE = SimpleNamespace(kind_="bgnbd", at_boundary_=True)
TABLE = pd.DataFrame({"segment": ["Loyal"] * 3, "churn_probability": [0.1, 0.2, 0.3]})


def test_model_wins_everything_is_shown():
    facts = card_facts(_grades((10, 0.7, 0.5), (12, 0.6, 0.4)), FIT, SimpleNamespace(metrics={"roc_auc": 0.8}),
                       TABLE, 90)
    assert {k: f.status for k, f in facts.facts.items()} == {
        "churn_probability": "shown", "p_alive": "shown", "expected_orders": "hidden",   # orders: a tie is no win
        "expected_spend": "shown", "next_order_date": "shown"}
    assert "12.00" in facts.get("expected_spend").note and "ROC AUC 0.80 vs 0.70" in facts.get("churn_probability").note


def test_split_verdicts_get_a_caveat_and_losers_are_hidden():
    split = card_facts(_grades((13, 0.7, 0.5), (12, 0.6, 0.4), next_btyd=50, p_alive=(0.6, 0.8), churn_base=0.9),
                       FIT, SimpleNamespace(metrics={"roc_auc": 0.8}), TABLE, 90)
    assert split.get("expected_spend").status == "caveat" and "misses by more" in split.get("expected_spend").note
    # no model dated the next order better than the last gap: the card shows that rule itself, labelled as such
    assert split.get("next_order_date").status == "caveat" and split.next_source == "rule"
    assert split.get("next_order_date").note.startswith("The usual gap between their orders, not a forecast")
    # a churn model that loses is withheld: the card's risk is the rule that beat it, said in the note
    assert split.get("p_alive").status == "caveat" and split.get("churn_probability").status == "caveat"
    assert split.churn.source == "btyd" and split.churn.model is None
    assert split.get("churn_probability").note == ("The risk shown is the BG/NBD score's. The churn model is withheld: "
                                                   "on a later period it told churners apart no better than the "
                                                   "simple BG/NBD score (ROC AUC 0.80 vs 0.90), so nothing uses it.")
    chance = card_facts(_grades((13, 0.5, 0.3), (12, 0.6, 0.4), p_alive=(0.5, 0.8)), FIT, None, TABLE, 90)
    assert chance.get("expected_spend").status == "hidden" and chance.get("p_alive").status == "hidden"
    assert "no churn model" in chance.get("churn_probability").note


def test_a_degenerate_fit_hides_p_alive_and_the_next_order_date():
    facts = card_facts(_grades((10, 0.7, 0.5), (12, 0.6, 0.4)), DEGENERATE, None, TABLE, 90)
    assert facts.get("p_alive").status == "hidden" and facts.next_source == "rule"      # BG/NBD's date is not used
    assert "degenerate" in facts.get("p_alive").note and facts.get("expected_spend").status == "shown"
    assert card_facts(None, DEGENERATE, None, TABLE, 90).get("next_order_date").status == "hidden"
    unchecked = card_facts(None, FIT, SimpleNamespace(metrics={}), TABLE, 90)
    assert all(f.status == "caveat" for k, f in unchecked.facts.items() if k != "next_order_date")


def _with(grades: value.ValueGrades, *rows: dict) -> value.ValueGrades:
    extra = pd.DataFrame(list(rows)).set_index("key")
    return value.ValueGrades(pd.concat([grades.table, extra]), grades.info)


def _row(key, target, **m) -> dict:
    return {"key": key, "target": target, "model": key, "role": "model", "n": 100, "mae": np.nan,
            "median_ae": np.nan, "gini": np.nan, "top_share": np.nan, "roc_auc": np.nan} | m


def test_the_card_takes_each_prediction_from_the_source_graded_best():
    """Spend from the forecast when it beats the rule on more measures than BG/NBD x Gamma-Gamma; the next order
    from the hazard when it misses by least; the chance of buying again from 1 - the churn model's risk when that
    ranks best and the model is the dataset's churn risk (never from a withheld model)."""
    g = _with(_grades((13, 0.7, 0.5), (12, 0.6, 0.4), next_btyd=35.0, p_alive=(0.6, 0.7)),
              _row("spend_hybrid", "spend", mae=11.0, median_ae=11.0, gini=0.72, top_share=0.5),
              _row("next_order_hazard", "next_order", mae=20.0, median_ae=15.0, coverage=0.8),
              _row("p_alive_churn_model", "p_alive", roc_auc=0.85))
    used = card_facts(g, FIT, SimpleNamespace(metrics={"roc_auc": 0.85}), TABLE, 90)
    assert (used.spend_source, used.next_source, used.again_source) == ("forecast", "hazard", "churn_model")
    assert used.get("expected_spend").status == "shown" and used.get("expected_spend").note.startswith(
        "From the spend forecast.")
    assert "80% of next orders fell inside its 80% range" in used.get("next_order_date").note
    assert "1 - the churn model's risk" in used.get("p_alive").note
    rows = pd.DataFrame({"btyd_p_alive": [0.9, 0.4], "churn_probability": [0.3, 0.6]})
    assert used.chance_again(rows) == pytest.approx([0.7, 0.4])
    assert used.usable(rows.assign(expected_spend=[1.0, 2.0]))["p_alive"].tolist() == [1.0, 1.0]   # not twice
    withheld = card_facts(g, FIT, SimpleNamespace(metrics={"roc_auc": 0.65}), TABLE, 90)    # loses to BG/NBD 0.7
    assert withheld.churn.source == "btyd" and withheld.again_source == "btyd"
    assert withheld.chance_again(rows) == pytest.approx([0.9, 0.4])


def test_on_data_without_signal_the_card_says_so_and_shows_the_rules():
    """Every model and rule near chance (ROC AUC ~0.5): churn risk is the best rule's, said plainly, even when
    the model is a hair better; the chance of buying again is not shown; spend and next order follow the rules."""
    g = _grades((13, 0.01, 0.1), (12, 0.02, 0.1), next_btyd=45.0, p_alive=(0.51, 0.52), churn_base=0.52)
    facts = card_facts(g, FIT, SimpleNamespace(metrics={"roc_auc": 0.53}), TABLE, 90)
    assert facts.churn.source == "btyd" and facts.churn.model is None
    assert facts.get("churn_probability").note.startswith("No signal on these data")
    assert facts.get("p_alive").status == "hidden" and facts.get("expected_spend").status == "hidden"
    assert facts.next_source == "rule"


# ----------------------------------------------------------------------------------- notes on disagreements

def _facts(p_alive: str = "shown", spend: str = "shown") -> CardFacts:
    return CardFacts({"p_alive": Fact(p_alive, ""), "expected_spend": Fact(spend, "")}, {"Loyal": 0.2}, 90)


def test_high_churn_beside_p_alive_100_is_explained_unless_p_alive_is_hidden():
    row = {"segment": "Loyal", "churn_probability": 0.75, "risk_band": "High", "p_alive": 1.0, "frequency": 3,
           "monetary": 300.0, "expected_spend": 50.0}
    notes = customer_notes(_facts(), row, {"r_score": 1, "f_score": 4})
    assert any(n.startswith("Churn risk and P(alive) answer different questions") for n in notes)
    assert not any("P(alive)" in n for n in customer_notes(_facts(p_alive="hidden"), row, {"r_score": 1,
                                                                                           "f_score": 4}))


def test_one_time_buyer_expected_spend_above_their_order_is_explained():
    row = {"segment": "Loyal", "churn_probability": 0.2, "risk_band": "Low", "p_alive": 0.8, "frequency": 1,
           "monetary": 89.0, "expected_spend": 113.21}
    notes = customer_notes(_facts(), row, {"r_score": 4, "f_score": 1})
    assert notes == ["Expected spend (113.21) is above the 89.00 of this customer's only order: with one order it "
                     "is mostly the average of similar customers, not their own habit."]
    assert customer_notes(_facts(spend="hidden"), row, {"r_score": 4, "f_score": 1}) == []


def test_segment_from_rules_beside_high_risk_from_the_model_says_why():
    row = {"segment": "Loyal", "churn_probability": 0.98, "risk_band": "High", "p_alive": 0.01, "frequency": 9,
           "monetary": 900.0, "expected_spend": 1.0}
    notes = customer_notes(_facts(), row, {"r_score": 3, "f_score": 5})
    assert notes == ["The segment 'Loyal' comes from the recency and frequency score rules (R3, F5); the churn risk "
                     "(98%) comes from the churn model, which reads more than R and F; the segment's typical risk "
                     "is 20%."]
    calm = row | {"churn_probability": 0.25, "risk_band": "Low", "p_alive": 0.8}
    assert customer_notes(_facts(), calm, {"r_score": 4, "f_score": 5}) == []


def test_a_hidden_churn_risk_is_not_compared_and_no_note_leans_on_it():
    facts = CardFacts({"p_alive": Fact("shown", ""), "churn_probability": Fact("hidden", "")}, {"Loyal": 0.2}, 90)
    row = {"segment": "Loyal", "churn_probability": 0.98, "risk_band": "High", "p_alive": 0.01, "frequency": 9,
           "monetary": 900.0, "expected_spend": 1.0}
    assert customer_notes(facts, row, {"r_score": 3, "f_score": 5}) == []


# ------------------------------------------------------------------------------------- card JSON and CLI

def test_card_json_nulls_hidden_predictions_and_names_them_under_withheld():
    from pipeline import customer as pf

    from pipeline.config import TX_COLUMNS

    tx = _steady().assign(quantity=1.0, unit_price=lambda d: d["amount"], product_id="p1", product_name="Mug",
                          category="Kitchen", country="UK")[list(TX_COLUMNS)]
    ds = Dataset("steady", "steady", "transactions", transactions=tx)
    ctx = pf.build_scorer(ds)
    assert ctx.decisions.grades is not None and ctx.decisions.facts.get("expected_spend").status == "hidden"
    card = pf.customer_profile(ctx, "c00").to_json()
    json.dumps(card)
    assert card["facts"]["expected_spend"]["status"] == "hidden" and card["expected_spend"] is None
    assert "expected_spend" in card["withheld"] and card["spend_low"] is None      # names only, no values
    # the next order is the rule itself: every 30 days, the next due 30 days after the last purchase day
    assert card["next_source"] == "rule" and card["usual_gap_days"] == 30 and "next_order_date" not in card["withheld"]
    last = pd.Timestamp(card["habits"]["last_purchase"]).normalize()
    assert card["next_order_date"] == str((last + pd.Timedelta(days=30)).date())


def test_cli_value_table_has_baseline_rows(tmp_path, capsys):
    from pipeline.cli import main

    path = tmp_path / "steady.csv"
    _steady().assign(date=lambda d: d["date"].dt.strftime("%Y-%m-%d")).to_csv(path, index=False)
    assert main(["value", str(path), "--horizon", "90", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = {r["key"]: r for r in out["rows"]}
    assert rows["spend_last"]["role"] == "BASELINE" and rows["spend_last"]["mae"] == pytest.approx(0.0)
    assert rows["spend_btyd"]["beats_baseline"] == {"mae": False, "gini": False, "top_share": False}
    assert rows["spend_model"]["role"] == "model" and out["info"]["horizon_days"] == 90
    assert main(["value", str(path), "--horizon", "400"]) == 2
    assert capsys.readouterr().err.startswith("error: churn: horizon 400 days is longer than the data allow")
