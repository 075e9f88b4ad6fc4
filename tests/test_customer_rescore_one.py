"""pipeline.customer.rescore_one (what the scoring service calls per request) gives the same card as rescore."""
import pandas as pd

from pipeline.customer.card import customer_profile
from pipeline.customer.rescoring import rescore, rescore_one
from service_support import small_scorer


def test_rescore_one_card_equals_rescore_card():
    from service.scoring import _canonical

    sc = small_scorer().model
    line = {"date": pd.Timestamp("2024-12-20"), "amount": 30.0, "invoice_id": "Z1", "quantity": None,
            "unit_price": None, "product_id": None}
    for cid in [*sc.table.index[:2], "brand-new"]:
        lines = _canonical(cid, [line])
        one = rescore_one(sc, cid, lines)
        assert list(one.table.index) == [cid]
        assert customer_profile(one, cid).to_json() == customer_profile(rescore(sc, cid, lines), cid).to_json()
