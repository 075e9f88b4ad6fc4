"""``GET /health`` (public) and ``GET /metrics`` (Prometheus text format)."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

router = APIRouter(tags=["health"])


class HealthOut(BaseModel):
    status: str
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


@router.get("/health", response_model=HealthOut, summary="Liveness and what is loaded (no key needed)")
def health(request: Request) -> dict:
    scorer, state = request.app.state.scorer, request.app.state
    return {"status": "ok", "dataset": scorer.model.dataset_name, "kind": scorer.kind,
            "customers": scorer.n_customers, "model_version": scorer.version,
            "churn_model": scorer.info["churn_model"], "churn_model_version": scorer.churn_version,
            "churn_risk": scorer.info.get("churn_risk"),
            "clustering": scorer.info["clustering"],
            "schema_version": state.schema_version}


@router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics (requests, latency, model)",
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
def metrics(request: Request) -> str:
    return request.app.state.metrics.render()
