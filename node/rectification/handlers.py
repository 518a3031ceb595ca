"""Inbox handler for ``rectification-summary``: metadata of a demand of a node below.

Only the inspecting node speaks for its demands, only to its ancestors; a summary moves the copy
held here only along the state machine (``state.check_run``: a forged jump such as issued ->
closed, or a step the machine has no transition for, is refused) and replaces only an older
version, so a redelivery changes nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from node.common import check_from_below, held_summary
from node.context import NodeContext
from node.rectification.models import Rectification
from node.rectification.state import ISSUE_STATE, ISSUE_VERSION, SUMMARY, check_run
from node.rectification.wire import SUMMARY_FIELDS, RectificationSummaryWire
from node.replication.envelope import Envelope
from node.replication.kinds import Applied, Kind, KindSpec


def apply_summary(
    session: Session, ctx: NodeContext, envelope: Envelope, wire: RectificationSummaryWire
) -> Applied:
    """A summary from a node below: insert, or move an older version forward."""
    origin = envelope.origin
    check_from_below(ctx, envelope, wire.node)
    item = held_summary(session, Rectification, wire.id, node=origin, summary=SUMMARY)
    if item is not None and item.version >= wire.version:
        return wire.id, wire.version  # delivered again, or older than what is held
    if item is None and wire.version == ISSUE_VERSION:
        refusal = None if wire.state == ISSUE_STATE else "illegal_transition"
    elif item is None:
        refusal = check_run(ISSUE_STATE, ISSUE_VERSION, wire.state, wire.version)
    else:
        refusal = check_run(item.state, item.version, wire.state, wire.version)
    if refusal is not None:
        raise envelope.reject(refusal)
    if item is None:
        item = Rectification(id=wire.id, node=origin, held_as=SUMMARY)
        session.add(item)
    for name in SUMMARY_FIELDS:
        setattr(item, name, getattr(wire, name))
    session.flush()
    return wire.id, wire.version


KINDS: tuple[KindSpec[NodeContext, Any], ...] = (
    KindSpec(
        Kind.RECTIFICATION_SUMMARY,
        wire=RectificationSummaryWire,
        ref_key="rectification",
        handler=apply_summary,
    ),
)
