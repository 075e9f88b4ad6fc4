"""``GET /health`` (public) and ``GET /metrics`` (Prometheus text format)."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

router = APIRouter(tags=["health"])


class HealthOut(BaseModel):
    status: str = Field(description="'ok', or 'degraded' while this worker sheds load (503s in the last 10 s) or "
                                    "runs its maximum of writes")
    dataset: str
    kind: str
    customers: int
    model_version: str
    churn_model: str
    churn_model_version: str | None = Field(None, description="the churn model served: 'v<N>' (the dataset's "
                                            "champion registry, changes when a promoted champion is picked up), "
                                            "a Model-lab id, 'default', 'bgnbd'; null for a customer table")
    churn_risk: dict | None = Field(None, description="where the cards' churn risk comes from on this dataset: "
                                    "source 'model', or the simple rule used because the model did no better "
                                    "('recency', 'btyd'), with the note and the ROC AUCs behind the choice")
    clustering: str
    schema_version: int
    load: dict = Field(default_factory=dict, description="this worker's requests in flight, its limits and how many "
                                                         "it has shed (503)")


@router.get("/health", response_model=HealthOut, summary="Liveness and what is loaded (no key needed)")
async def health(request: Request) -> dict:
    """Answered on the event loop from memory (no thread, no database), so it is fast under any load."""
    scorer, state = request.app.state.scorer, request.app.state
    return {"status": "degraded" if state.load.degraded() else "ok", "load": state.load.to_json(), "dataset": scorer.model.dataset_name, "kind": scorer.kind,
            "customers": scorer.n_customers, "model_version": scorer.version,
            "churn_model": scorer.info["churn_model"], "churn_model_version": scorer.churn_version,
            "churn_risk": scorer.info.get("churn_risk"),
            "clustering": scorer.info["clustering"],
            "schema_version": state.schema_version}


@router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics (requests, latency, model)",
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
async def metrics(request: Request) -> str:
    return request.app.state.metrics.render()
