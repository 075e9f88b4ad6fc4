"""Customer: one customer's card and a what-if for a changed or a new customer.

The address carries ``?customer=<id>``, a link to the card. Scoring lives in ``pipeline.customer``; the card is
drawn by ``app.customer_ui``; this page picks the customer and wires the two together."""
import streamlit as st

from app import customer_ui, keys, state, ui
from pipeline.customer import customer_profile, what_if, what_if_inputs
from pipeline.errors import DataError

ui.require_dataset(kind=None)


def follow_link() -> None:
    """A card link names its dataset (``?ds=``, read by ``app.state``); a link to a customer who is not in the current
    dataset (an older link without ``?ds=``) opens the saved dataset that holds them, and says so. The picked customer
    belongs to one dataset: after a switch in the sidebar the picker and ``?customer=`` start empty."""
    cur, owner = state.current_dataset_id(), st.session_state.get(keys.CUSTOMER_DATASET)
    linked = st.query_params.get(keys.CUSTOMER_PARAM)
    if owner is None and linked:                        # this session opened the page from a link
        holder = state.dataset_with_customer(linked)
        if holder is not None and holder != cur:
            names = state.dataset_names()
            st.session_state[keys.LINK_NOTE] = (f"Customer {linked} is in '{names[holder]}', not in "
                                                f"'{names.get(cur, cur)}': switched to that dataset.")
            state.set_current(holder)
            st.rerun()
    elif owner is not None and owner != cur:            # another dataset: a customer id there is another person
        st.session_state.pop(keys.CUSTOMER_ID, None)
        if linked:
            del st.query_params[keys.CUSTOMER_PARAM]
    st.session_state[keys.CUSTOMER_DATASET] = cur


follow_link()
st.title("Customer")
if note := st.session_state.pop(keys.LINK_NOTE, None):
    st.info(note, icon=":material/swap_horiz:")
customer_ui.erase_receipt()
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
    customer_ui.what_if_result(res, ctx.decisions.facts.to_json() if ctx.decisions is not None else None)


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
    customer_ui.erase_panel(prof.customer_id)
else:
    st.caption("Pick a customer to see their card; the what-if below starts from a typical customer.")
what_if_panel(prof.customer_id if prof else None)
st.page_link(ui.CAMPAIGNS_PAGE, label="Campaign lists, coupon catalogue and learned coupon policy",
             icon=":material/campaign:")
