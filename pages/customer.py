"""Customer: one customer's card and a what-if for a changed or a new customer.

The address carries ``?customer=<id>``, a link to the card. Scoring lives in ``pipeline.customer``; the card is
drawn by ``app.customer_ui``; this page picks the customer and wires the two together."""
import streamlit as st

from app import customer_ui, keys, ui
from pipeline.customer import customer_profile, what_if, what_if_inputs
from pipeline.errors import DataError

ui.require_dataset(kind=None)
st.title("Customer")
ctx = customer_ui.scoring_context()


@st.fragment
def what_if_panel(cid: str | None) -> None:
    """Moving an input reruns only this panel (the card above stays)."""
    st.subheader("What if…" if cid else "What if: a new customer")
    values = customer_ui.what_if_values(what_if_inputs(ctx, cid), cid)
    try:
        res = what_if(ctx, values, cid)
    except DataError as e:
        st.warning(str(e), icon=":material/warning:")
        return
    customer_ui.what_if_result(res, ctx.facts.to_json() if ctx.facts is not None else None)


def picked_customer() -> str | None:
    """The customer id from the picker or the ``?customer=`` link; keeps the link in step with the picker."""
    ids, linked = ctx.ids, st.query_params.get(keys.CUSTOMER_PARAM)
    options = list(ids[:50_000])
    pos = options.index(linked) if linked in ids[:50_000] else None
    picked = st.selectbox("Customer id", options, index=pos, key=keys.CUSTOMER_ID, accept_new_options=True,
                          placeholder=f"Type or pick one of {len(ids):,} customer ids")
    if picked is not None:
        st.query_params[keys.CUSTOMER_PARAM] = picked
        return picked
    if linked in ids:                   # the user cleared the box: forget the linked customer
        del st.query_params[keys.CUSTOMER_PARAM]
        return None
    return linked                       # a link (or typed id) to a customer who is not in this dataset


cid = picked_customer()
prof = None
if cid:
    try:
        prof = customer_profile(ctx, cid)
    except DataError as e:
        st.error(str(e), icon=":material/person_off:")
if prof is not None:
    customer_ui.card(prof)
else:
    st.caption("Pick a customer to see their card; the what-if below starts from a typical customer.")
what_if_panel(prof.customer_id if prof else None)
st.page_link(ui.CAMPAIGNS_PAGE, label="Campaign lists, coupon catalogue and learned coupon policy",
             icon=":material/campaign:")
