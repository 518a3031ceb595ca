"""``/api/v1/records``: thin endpoints over node.records.service."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Header, Path, Query, Request, status
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from node.api.deps import ContextDep, CurrentActor, SessionDep
from node.clock import UtcDateTime
from node.records import attachments, service
from node.records.attachment_store import UploadTooLarge
from node.records.schemas import (
    AttachmentList,
    AttachmentOut,
    Classification,
    RecordCreate,
    RecordOut,
    RecordPage,
    RecordUpdate,
    ReporterOut,
)

router = APIRouter(prefix="/api/v1/records", tags=["records 记录"])

# Documented as a UUID; checked in the service so that a bad id gets its own code (invalid_id).
RecordId = Annotated[
    str, Path(description="record id (UUID)", json_schema_extra={"format": "uuid"})
]
# A record is identified by (origin, id); the id alone suffices unless records of several origins
# that the user may see share it (409 ambiguous_record_id).
RecordOrigin = Annotated[
    str | None,
    Query(
        pattern=r"^[a-z0-9-]+$",
        max_length=64,
        description="the record's origin node; needed only when the id alone is ambiguous",
    ),
]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=RecordOut,
    summary="新建记录 Create a record",
)
def create_record(
    data: RecordCreate, session: SessionDep, ctx: ContextDep, actor: CurrentActor
) -> RecordOut:
    record = service.create_record(session, ctx, actor, data)
    return service.written_out(session, ctx, actor, record)


@router.get("", response_model=RecordPage, summary="记录列表 List records")
def list_records(
    session: SessionDep,
    ctx: ContextDep,
    actor: CurrentActor,
    classification: Annotated[Classification | None, Query(alias="class")] = None,
    category: Annotated[str | None, Query(max_length=40)] = None,
    origin: Annotated[str | None, Query(pattern=r"^[a-z0-9-]+$", max_length=64)] = None,
    updated_since: UtcDateTime | None = None,
    updated_before: UtcDateTime | None = None,
    include_deleted: bool = False,
    q: Annotated[
        str | None,
        Query(
            description="search titles and bodies: words separated by spaces, each at least 2 "
            "characters, all required; up to 100 characters and 8 words (422 query_too_short, "
            "query_too_long, invalid_query). Only records whose content the user may read match.",
        ),
    ] = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> RecordPage:
    filters = service.RecordFilters(
        classification=classification,
        category=category,
        origin=origin,
        updated_since=updated_since,
        updated_before=updated_before,
        include_deleted=include_deleted,
        text=q,
    )
    return service.list_records(session, ctx, actor, filters, cursor=cursor, limit=limit)


@router.get("/{record_id}", response_model=RecordOut, summary="查看记录 Read a record")
def read_record(
    record_id: RecordId,
    session: SessionDep,
    ctx: ContextDep,
    actor: CurrentActor,
    origin: RecordOrigin = None,
) -> RecordOut:
    return service.read_record(session, ctx, actor, record_id, origin)


@router.get(
    "/{record_id}/reporter",
    response_model=ReporterOut,
    summary="举报人 The reporter of a petition or problem clue (author, approvers, grantee)",
    description="At the origin: the record's author and the approvers (403 for anyone else, "
    "404 reporter_not_found when none). At another node: the grantee of an active grant whose "
    "request asked for the reporter and was approved by the category's approvers plus a "
    "security officer (403 reporter_not_granted otherwise). Every read and refusal is audited.",
)
def read_reporter(
    record_id: RecordId,
    session: SessionDep,
    ctx: ContextDep,
    actor: CurrentActor,
    origin: RecordOrigin = None,
) -> ReporterOut:
    return service.get_reporter(session, ctx, actor, record_id, origin)


@router.patch(
    "/{record_id}", response_model=RecordOut, summary="修改记录 Update a record (origin only)"
)
def update_record(
    record_id: RecordId,
    data: RecordUpdate,
    session: SessionDep,
    ctx: ContextDep,
    actor: CurrentActor,
    origin: RecordOrigin = None,
) -> RecordOut:
    record = service.update_record(session, ctx, actor, record_id, data, origin)
    return service.written_out(session, ctx, actor, record)


@router.delete(
    "/{record_id}", response_model=RecordOut, summary="删除记录 Delete (tombstone) a record"
)
def delete_record(
    record_id: RecordId,
    session: SessionDep,
    ctx: ContextDep,
    actor: CurrentActor,
    origin: RecordOrigin = None,
) -> RecordOut:
    record = service.delete_record(session, ctx, actor, record_id, origin)
    return service.to_out(ctx, record, full=True)


@router.post(
    "/{record_id}/attachments",
    status_code=status.HTTP_201_CREATED,
    response_model=AttachmentOut,
    summary="上传附件 Attach a file to a record (origin only)",
    description="The request body is the file itself (not multipart); its name goes in "
    "`?filename=`. The type is detected from the bytes (PDF, JPEG, PNG, TIFF, GIF, Word, Excel, "
    "PowerPoint, plain text); a Content-Type that disagrees is refused (415 "
    "attachment_type_mismatch). Empty: 422 attachment_empty; over the node's cap: 413 "
    "attachment_too_large; a stub: 409 attachment_to_stub. Nothing is stored on a refusal.",
)
async def upload_attachment(
    record_id: RecordId,
    request: Request,
    session: SessionDep,
    ctx: ContextDep,
    actor: CurrentActor,
    filename: Annotated[str, Query(min_length=1, max_length=1000)],
    origin: RecordOrigin = None,
    content_type: Annotated[str | None, Header()] = None,
    content_length: Annotated[int | None, Header()] = None,
) -> AttachmentOut:
    # Authentication's transaction ends before the body streams in: on SQLite every transaction
    # holds the write lock, which a slow upload must not keep from everyone else.
    await run_in_threadpool(session.commit)
    spool = attachments.new_spool(ctx, content_length)
    try:
        try:
            async for piece in request.stream():
                await run_in_threadpool(spool.write, piece)
            await run_in_threadpool(spool.finish)
        except UploadTooLarge:
            raise attachments.too_large(ctx) from None
        return await run_in_threadpool(
            attachments.add_attachment,
            session,
            ctx,
            actor,
            record_id,
            spool=spool,
            filename=filename,
            content_type=content_type,
            origin=origin,
        )
    finally:
        spool.close()


@router.get(
    "/{record_id}/attachments",
    response_model=AttachmentList,
    summary="附件列表 The attachments of a record (who may read its content)",
)
def list_attachments(
    record_id: RecordId,
    session: SessionDep,
    ctx: ContextDep,
    actor: CurrentActor,
    origin: RecordOrigin = None,
) -> AttachmentList:
    return attachments.list_attachments(session, ctx, actor, record_id, origin)


@router.get(
    "/{record_id}/attachments/{attachment_id}",
    response_class=StreamingResponse,
    summary="下载附件 Download an attachment (audited)",
    description="The file's bytes, streamed; 409 attachment_incomplete while its chunks are "
    "still arriving at this node. Every download is audited.",
)
def download_attachment(
    record_id: RecordId,
    attachment_id: Annotated[str, Path(json_schema_extra={"format": "uuid"})],
    session: SessionDep,
    ctx: ContextDep,
    actor: CurrentActor,
    origin: RecordOrigin = None,
) -> StreamingResponse:
    download = attachments.open_download(session, ctx, actor, record_id, attachment_id, origin)
    # RFC 6266/5987: an ASCII fallback and the UTF-8 name (Chinese filenames).
    fallback = "".join(
        ch if ch.isascii() and ch.isalnum() or ch in "._-" else "_" for ch in download.filename
    )
    disposition = (
        f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(download.filename, safe='')}"
    )
    return StreamingResponse(
        attachments.chunks(ctx, download),
        media_type=download.content_type,
        headers={
            "Content-Disposition": disposition,
            "Content-Length": str(download.size),
            "X-Content-Type-Options": "nosniff",
            "Digest": f"sha-256={download.sha256}",
        },
    )
