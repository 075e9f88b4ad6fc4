"""The app factory. ``uvicorn service.main:app`` serves the dataset named by ``SEGMENTS_DATASET``.

Start-up (lifespan): migrate the database, load the dataset, its live model (``pipeline.health.live``: the one
pointer the app's pages read; else the default churn model), the saved clustering and the coupon catalogue, fit the
scorer once, delete prediction-log rows and API purchases older than ``SEGMENTS_RETENTION_DAYS`` when it is set
(:mod:`pipeline.privacy.retention`), rebuild every stored card that is behind its lines (a crash between versions, a
hand edit, a purge) and drop expired idempotency keys; then serve. Every worker process does this for itself; the
database is shared. For a saved transactions dataset a background task polls that pointer
(``SEGMENTS_CHAMPION_POLL_SECONDS``) and swaps a newly promoted champion, or a model put live in the Model lab, in
without a restart.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeout

from pipeline.errors import DataError
from service.api.errors import body_unreadable, validation_failed, writable
from service.api.routes import campaigns, coupons, customers, health, privacy, score
from service.core.config import Settings, get_settings
from pipeline.health.predictions import served_log
from pipeline.privacy.retention import enforce_retention
from service.core.db import make_engine, session_factory
from service.core.observability import Metrics, ObservabilityMiddleware
from service.core.backpressure import Load, LoadShedder
from service.core.ratelimit import RateLimiter
from service.keys import KeyCache
from service.migrations import upgrade

__all__ = ["create_app", "serve", "app"]

log = logging.getLogger("service.requests")


def _load_scorer(settings: Settings):
    from service.scoring import load_scorer

    return load_scorer(settings.dataset, settings.resolved_workspace(), settings.horizon_days,
                       settings.card_cache_size)


def _model_info(s) -> dict[str, str]:
    return {"dataset": s.model.dataset_name, "version": s.version, "churn_model": s.info["churn_model"],
            "churn_model_version": str(s.churn_version or ""), "clustering": s.info["clustering"]}


def _event(**fields) -> str:
    return json.dumps(fields)


def repair_cards(sessions, scorer, settings: Settings) -> int:
    """Rebuild the stored cards that were not built from exactly their customer's lines; drop expired
    idempotency keys. Returns the number of cards rebuilt."""
    from service import transactions as store
    from service.idempotency import purge

    purge(sessions, settings.idempotency_hours)
    if scorer.kind != "transactions":
        return 0
    with sessions() as s:
        stale = store.behind(s, scorer.dataset_id)
    for cid in stale:
        store.rebuild(sessions, scorer.dataset_id, cid, lambda rows, c=cid: scorer.rescore(c, rows))
    return len(stale)


async def watch_champion(app: FastAPI, watcher, every: float, metrics: Metrics) -> None:
    """Every ``every`` seconds: poll the champion pointer (in the threadpool); on a new champion build the swapped
    scorer (threadpool) and put it in place with one assignment. A failure is logged once (until it changes or a
    swap succeeds) and the model in use keeps serving; a pointer that cannot be read or loaded is tried again on
    the next poll."""
    failed = None
    while True:
        await asyncio.sleep(every)
        t0 = time.perf_counter()
        try:
            loaded = await run_in_threadpool(watcher.poll)
            if loaded is None:
                continue
            new = await run_in_threadpool(app.state.scorer.with_churn_model, *loaded, watcher.serial)
        except Exception as exc:                               # noqa: BLE001 - the old model keeps serving
            metrics.count("champion_swap_failures")
            what = (type(exc).__name__, str(exc)[:300] if isinstance(exc, DataError) else "")
            if what != failed:                                 # DataError texts only (ours: no URLs, no keys)
                log.warning(_event(event="champion_not_picked_up", error=what[0], detail=what[1],
                                   serving=app.state.scorer.churn_version, model_version=app.state.scorer.version))
            failed = what
            continue
        app.state.scorer = new
        metrics.info["model_info"] = _model_info(new)
        metrics.count("champion_swaps")
        failed = None
        log.info(_event(event="champion_picked_up", version=new.churn_version, model_version=new.version,
                        serial=watcher.serial, seconds=round(time.perf_counter() - t0, 2)))


def create_app(settings: Settings | None = None, scorer=None) -> FastAPI:
    """Build the app. ``scorer``: an already loaded :class:`service.scoring.Scorer` (tests share one)."""
    settings = settings or get_settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        t0 = time.perf_counter()
        engine = make_engine(settings.resolved_database_url())
        app.state.schema_version = await run_in_threadpool(upgrade, engine)
        app.state.engine, app.state.sessions = engine, session_factory(engine)
        app.state.scorer = scorer or await run_in_threadpool(_load_scorer, settings)
        s = app.state.scorer
        await run_in_threadpool(enforce_retention, engine, settings.resolved_workspace(), "service")  # before repair
        repaired = await run_in_threadpool(repair_cards, app.state.sessions, s, settings)
        app.state.keys = KeyCache(app.state.sessions, settings.key_cache_seconds)
        metrics.info["model_info"] = _model_info(s)
        watcher = s.champion_watcher() if settings.champion_poll_seconds > 0 else None
        task = asyncio.create_task(watch_champion(app, watcher, settings.champion_poll_seconds, metrics),
                                   name="champion-watcher") if watcher is not None else None
        app.state.champion_task = task
        log.info(_event(event="ready", seconds=round(time.perf_counter() - t0, 2), customers=s.n_customers,
                        cards_repaired=repaired, shared_rate_limits=app.state.limiter.shared,
                        model_version=s.version, churn_model_version=s.churn_version,
                        champion_poll_seconds=settings.champion_poll_seconds if task else 0))
        try:
            yield
        finally:
            if task is not None:                              # a swap being built finishes first, then is dropped
                task.cancel()
                await asyncio.wait([task])
        try:                                                  # queued served predictions are written on shutdown
            await run_in_threadpool(served_log(engine).flush)
        except Exception as exc:                              # a gone database must not block the shutdown
            log.warning('{"event": "prediction_log_not_flushed", "error": "%s"}', type(exc).__name__)
        engine.dispose()

    app = FastAPI(title="Customer segments scoring service", version="1.0.0", lifespan=lifespan,
                  description="Segments, scores and issues coupons as purchases arrive, on the same `pipeline` "
                              "code as the dashboard. Authenticate with `Authorization: Bearer <API key>` "
                              "(`python -m service api-key create`); `/health` and `/metrics` are public.")
    app.state.settings, app.state.metrics = settings, metrics
    app.state.limiter = RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst, settings.workers,
                                    settings.redis_url)
    app.state.load = Load(settings.max_inflight, settings.max_inflight_writes)
    for module in (customers, privacy, score, coupons, campaigns, health):
        app.include_router(module.router)
    app.add_middleware(LoadShedder, load=app.state.load)          # inside: shed requests are logged and counted
    app.add_middleware(ObservabilityMiddleware, metrics=metrics, max_body_bytes=settings.max_body_bytes,
                       log=settings.log_requests)

    @app.exception_handler(SQLAlchemyTimeout)
    async def _busy(request: Request, exc: Exception) -> JSONResponse:       # no database connection in time
        app.state.load.last_shed = time.monotonic()
        return JSONResponse({"detail": "busy: no database connection free; retry after 1 s (Retry-After)."}, 503,
                            headers={"Retry-After": "1"})

    @app.exception_handler(DataError)
    async def _data_error(request: Request, exc: DataError) -> JSONResponse:
        return JSONResponse({"detail": [{"loc": ["body"], "msg": writable(str(exc)), "type": "value_error"}]}, 422)

    app.add_exception_handler(RequestValidationError, validation_failed)  # never echoes NaN / surrogates (a 500)
    app.add_exception_handler(StarletteHTTPException, body_unreadable)    # 400 says why the body is unreadable

    return app


def serve(host: str = "127.0.0.1", port: int = 8000, workers: int = 1) -> None:
    """Run uvicorn (``python -m service serve``). One worker: the dataset is loaded before the port opens, so a
    bad dataset is a one-line DataError; several: each worker process loads it (``service.main:app``)."""
    import uvicorn

    if workers == 1:
        settings = get_settings()
        uvicorn.run(create_app(settings, scorer=_load_scorer(settings)), host=host, port=port, log_level="warning")
    else:
        uvicorn.run("service.main:app", host=host, port=port, workers=workers, log_level="warning")


app = create_app()
