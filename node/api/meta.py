"""Small read-only endpoints: who am I, the category table."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from node.api.deps import ContextDep, CurrentActor
from node.policy.categories import CLASS_LABELS

router = APIRouter(prefix="/api/v1", tags=["meta 基础"])


class Me(BaseModel):
    name: str
    role: str
    node: str
    node_name: str


class CategoryOut(BaseModel):
    code: str
    label_zh: str
    label_en: str
    min_class: str
    min_class_label: str
    approvals: int


@router.get("/me", response_model=Me, summary="当前用户 Current user")
def me(ctx: ContextDep, actor: CurrentActor) -> Me:
    return Me(
        name=actor.name,
        role=actor.role,
        node=actor.node,
        node_name=ctx.topology.get(ctx.node_id).name,
    )


@router.get("/categories", response_model=list[CategoryOut], summary="类别 Categories")
def categories(ctx: ContextDep, actor: CurrentActor) -> list[CategoryOut]:
    return [
        CategoryOut(
            code=c.code,
            label_zh=c.label_zh,
            label_en=c.label_en,
            min_class=c.min_class,
            min_class_label=CLASS_LABELS[c.min_class],
            approvals=c.approvals,
        )
        for c in ctx.policy.categories.all()
    ]
