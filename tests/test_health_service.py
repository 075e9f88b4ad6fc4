"""The served-prediction log a scoring service calls per request (pipeline.health.predictions.ServedLog): queued on
the request path, written in batches by a background thread, kept on a failed write, dropped (with a warning) when
the database is gone."""
from __future__ import annotations

import pytest

from pipeline.health.predictions import PredictionLog, served_log


def test_served_log_keeps_rows_when_a_write_fails(tmp_path):
    from pipeline.health.predictions import ServedLog, _md

    log = PredictionLog(f"sqlite:///{tmp_path / 'p.db'}")
    served = ServedLog(log, flush_seconds=3600)
    card = {"customer_id": "a", "churn_probability": 0.4, "risk_band": "Medium", "as_of": "2022-01-01",
            "model_version": "v"}
    assert served.record_card("ds", card) and not served.record_card("ds", {"customer_id": "b"})
    _md.drop_all(log.engine)                                  # the table is gone: the write fails
    with pytest.raises(Exception):
        served.flush()
    _md.create_all(log.engine)
    assert served.flush() == 1 and list(log.frame("ds")["customer_id"]) == ["a"]
    assert served.flush() == 0
    assert served_log(log.engine) is served_log(log.engine)   # one per engine and process


def test_served_log_writes_in_the_background_and_gives_up_on_a_gone_database(tmp_path):
    import time

    from pipeline.health.predictions import ServedLog, _md

    log = PredictionLog(f"sqlite:///{tmp_path / 'p.db'}")
    served = ServedLog(log, flush_seconds=0.05, retries=2)
    card = {"customer_id": "a", "churn_probability": 0.4, "risk_band": "Medium", "as_of": "2022-01-01"}
    served.record_card("ds", card)
    for _ in range(100):                                     # the writer thread flushes, then stops
        if served._thread is None:
            break
        time.sleep(0.05)
    assert served._thread is None and len(log.frame("ds")) == 1
    _md.drop_all(log.engine)
    served.record_card("ds", card)
    for _ in range(100):
        if served._thread is None:
            break
        time.sleep(0.05)
    assert served._thread is None and served._rows == []    # dropped after 2 failed writes (and logged)


def test_flush_waits_for_the_write_the_background_thread_has_in_flight(tmp_path):
    """A flush returns only when every row queued before it is in the database, also while the background thread
    is in the middle of writing them (it used to find an empty queue and return at once, with 0 rows written)."""
    import threading

    from pipeline.health.predictions import ServedLog

    log = PredictionLog(f"sqlite:///{tmp_path / 'p.db'}")
    writing, release = threading.Event(), threading.Event()
    real = log.record

    def slow_record(dataset_id, rows, source):
        writing.set()
        release.wait(10)
        return real(dataset_id, rows, source)

    log.record = slow_record
    served = ServedLog(log, flush_seconds=0.01)
    served.record_card("ds", {"customer_id": "a", "churn_probability": 0.4, "risk_band": "Medium",
                              "as_of": "2022-01-01", "model_version": "v"})
    assert writing.wait(10)                                  # the background thread holds the row now
    flushed = threading.Thread(target=served.flush)
    flushed.start()
    flushed.join(0.3)
    assert flushed.is_alive()                                # still waiting for the write in flight
    release.set()
    flushed.join(10)
    assert not flushed.is_alive() and list(log.frame("ds")["customer_id"]) == ["a"]


def _churn(card: dict) -> float:
    """The card's churn score, also when the card hides it (the model's score is what is monitored)."""
    return card["churn_probability"] if card["churn_probability"] is not None else card["withheld"]["churn_probability"]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_served_cards_are_logged_with_their_score_band_and_version(backend, tmp_path):
    from fastapi.testclient import TestClient

    from service.core.config import Settings
    from service.main import create_app
    from service_support import database, make_key, small_scorer

    with database(backend, tmp_path) as url:
        key = {"Authorization": f"Bearer {make_key(url, 'all')}"}
        scorer = small_scorer()
        cid = scorer.model.table.index[0]
        with TestClient(create_app(Settings(database_url=url, log_requests=False), scorer=scorer)) as client:
            card = client.get(f"/customers/{cid}", headers=key).json()
            assert client.get("/customers/nobody-here", headers=key).status_code == 404
            posted = client.post(f"/customers/{cid}/transactions", headers=key,
                                 json={"transactions": [{"date": "2011-12-01T10:00:00", "amount": 25.0}]})
            assert posted.status_code == 201
            served_log(client.app.state.engine).flush()     # queued on the request path, written in batches
        log = PredictionLog(url).frame(scorer.dataset_id)
        assert list(log["source"]) == ["service", "service"] and set(log["customer_id"]) == {cid}
        first = log.iloc[0]
        assert first["score"] == pytest.approx(_churn(card)) and first["band"] == card["risk_band"]
        assert first["churn_source"] == card["churn_source"] and first["outcome"] is None
        # the model version only when the model produced the score (a rule's row keeps none: issue 19)
        assert first["model_version"] == (card["model_version"] if card["churn_source"] == "model" else "")
        assert log.iloc[1]["score"] == pytest.approx(_churn(posted.json()["card"]))
