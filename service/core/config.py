"""Service settings from the environment (``SEGMENTS_*``), read once per process with pydantic-settings.

``python -m service serve`` sets the same variables from its flags, so ``uvicorn service.main:app --workers N``
with the variables exported runs exactly what ``serve`` runs.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings", "SCOPES"]

#: Every scope an API key can hold: read (customer cards, campaign counts), score (what-if, new transactions),
#: issue (coupons: issue and redeem), admin (create or change campaigns).
SCOPES = ("read", "score", "issue", "admin")


class Settings(BaseSettings):
    """Environment variables (prefix ``SEGMENTS_``); see docs/SERVICE.md for each."""

    model_config = SettingsConfigDict(env_prefix="SEGMENTS_", extra="ignore")

    dataset: str = Field("", description="saved dataset id or name in the workspace, a file path, or a built-in "
                                         "sample ('synthetic', 'cdnow')")
    workspace: Path | None = Field(None, description="a workspace folder (holding datasets/), or the folder of all "
                                                     "workspaces; default the app's workspace/ folder")
    database_url: str = Field("", description="SQLAlchemy URL; default SQLite (WAL) file service.db in the workspace")
    rate_limit_per_second: float = Field(100.0, gt=0, description="default sustained requests/s per API key")
    rate_limit_burst: float = Field(200.0, gt=0, description="requests a key may send at once above the rate")
    redis_url: str = Field("", description="Redis URL (redis://127.0.0.1:6379/0) for rate limits shared by every "
                                           "worker; without it each worker enforces its share (rate / workers)")
    workers: int = Field(1, ge=1, description="worker processes serving (set by `serve --workers`); splits the "
                                              "rate limits when there is no Redis")
    key_cache_seconds: float = Field(5.0, ge=0, description="how long a checked API key is remembered per worker "
                                                            "(a revoked key stops working within this time)")
    max_inflight_writes: int = Field(2, ge=1, description="POST/PUT requests one worker runs at once; above it "
                                                          "503 with Retry-After at once instead of a queue")
    max_inflight: int = Field(8, ge=1, description="requests of any kind one worker runs at once (503 above; "
                                                   "/health and /metrics always answer). Kept small: scoring is "
                                                   "CPU-bound Python, so more threads only queue for the GIL and "
                                                   "slow the event loop that answers 503s and /health")
    idempotency_hours: float = Field(24.0, gt=0, description="how long an Idempotency-Key's answer is kept")
    max_body_bytes: int = Field(1_000_000, gt=0, description="largest request body accepted (413 above)")
    card_cache_size: int = Field(20_000, ge=0, description="customer cards kept in memory per worker")
    horizon_days: int | None = Field(None, ge=1, description="churn/spend horizon in days (default pipeline's)")
    log_requests: bool = Field(True, description="one JSON line per request on stderr")
    champion_poll_seconds: float = Field(10.0, ge=0, description="how often a saved transactions dataset's churn "
                                                                 "champion pointer is checked, a new champion then "
                                                                 "served without a restart; 0: never")

    def resolved_workspace(self) -> Path:
        if self.workspace is not None:
            return Path(self.workspace)
        from pipeline.config import workspace_root

        return workspace_root()

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        ws = self.resolved_workspace()
        ws.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{(ws / 'service.db').resolve()}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
