"""``DELETE /customers/{id}`` (admin): erase a customer from the service's workspace and database, with a receipt.

The erasure is :func:`pipeline.privacy.erase.forget` on the service's workspace (the saved dataset's workspace, else
``SEGMENTS_WORKSPACE``) and database: dataset lines, selections, campaign lists, caches, API purchases, cards,
coupon decisions (kept anonymised: budgets and counts stay), stored ``Idempotency-Key`` answers and the prediction
log. Queued prediction-log rows are written first, so none arrives after the erasure. This worker treats the id as
unknown at once; a scorer fitted on a saved dataset is then loaded again, without the customer, in the background
(other workers do so when they restart).
"""
from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from starlette.concurrency import run_in_threadpool

from pipeline.health.predictions import served_log
from service.api.deps import ERRORS, require_scope
from service.api.routes.customers import CustomerId
from service.keys import KeyInfo

__all__ = ["router"]

router = APIRouter(prefix="/customers", tags=["privacy"])
log = logging.getLogger("service.requests")


def _reload(app) -> None:
    """Load the scorer again from the erased dataset (fitted anew: its saved scorer was deleted) and swap it in."""
    from service.scoring import load_scorer

    settings, old = app.state.settings, app.state.scorer
    try:
        new = load_scorer(settings.dataset, settings.resolved_workspace(), settings.horizon_days,
                          settings.card_cache_size)
    except Exception as exc:  # noqa: BLE001 - the erased id stays hidden in the scorer in use
        log.warning('{"event": "scorer_not_reloaded_after_erasure", "error": "%s"}', type(exc).__name__)
        return
    new._erased = set(old._erased)       # an erasure that came in meanwhile stays hidden
    app.state.scorer = new


@router.delete("/{customer_id}", responses=ERRORS,
               summary="Erase a customer: dataset lines, selections, campaign lists, caches, API purchases, card, "
                       "coupon decisions (kept anonymised), stored answers and the prediction log; returns a receipt")
async def delete_customer(customer_id: CustomerId, request: Request, background: BackgroundTasks,
                          key: Annotated[KeyInfo, Depends(require_scope("admin"))]) -> dict[str, Any]:
    from pipeline.privacy.erase import forget

    app = request.app
    settings, scorer = app.state.settings, app.state.scorer
    await run_in_threadpool(served_log(app.state.engine).flush)
    scorer.forget(customer_id)
    folder = scorer.workspace.path if scorer.workspace is not None else settings.resolved_workspace()
    receipt = await run_in_threadpool(forget, customer_id, folder, settings.resolved_database_url(), key.name)
    if scorer.workspace is not None and settings.dataset and any(r["kind"] == "dataset" for r in receipt["removed"]):
        background.add_task(run_in_threadpool, _reload, app)
    return receipt
