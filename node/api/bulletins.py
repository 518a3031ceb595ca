"""``/api/v1/bulletins``: the rectification status bulletin (检查通报) as a Word document."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from node.api.deps import ContextDep, CurrentActor, SessionDep
from node.stats import bulletin, document

router = APIRouter(prefix="/api/v1/bulletins", tags=["bulletins 通报"])


@router.get(
    "/rectification.docx",
    response_class=Response,
    responses={200: {"content": {document.MEDIA_TYPE: {}}}},
    summary="检查通报 The rectification status bulletin of a period over a subtree (DOCX)",
)
def rectification_bulletin(
    session: SessionDep,
    ctx: ContextDep,
    actor: CurrentActor,
    since: Annotated[
        str | None,
        Query(alias="from", max_length=7, description="first month, YYYY-MM (default: January)"),
    ] = None,
    until: Annotated[
        str | None,
        Query(alias="to", max_length=7, description="last month, YYYY-MM (default: this month)"),
    ] = None,
    subtree: Annotated[
        str | None,
        Query(max_length=64, description="a node of this subtree (default: this node)"),
    ] = None,
) -> Response:
    content = bulletin.rectification_bulletin(
        session, ctx, actor, since=since, until=until, subtree=subtree
    )
    name = f"bulletin-{content.subtree}-{content.since}-{content.until}.docx"
    return Response(
        document.render_bulletin(content),
        media_type=document.MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
