"""The ``ledger-summary`` envelope: metadata of a ledger item for every ancestor (sealed). Never
the title, the clue, the person responsible or the feedback text."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import StringConstraints

from node.clock import WireDateTime
from node.ledger.models import LedgerItem
from node.replication.kinds import WireModel

UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


class LedgerSummaryWire(WireModel):
    id: Annotated[str, StringConstraints(pattern=UUID_PATTERN)]
    node: str
    department: str
    feedback_deadline: WireDateTime
    status: Literal["transferred", "responded", "closed"]
    feedback_count: int
    last_feedback_at: WireDateTime | None
    created_at: WireDateTime
    updated_at: WireDateTime
    closed_at: WireDateTime | None
    version: int

    def envelope_ref(self) -> dict[str, Any]:
        return {"ledger": self.id, "version": self.version}


def summary_wire(item: LedgerItem) -> LedgerSummaryWire:
    return LedgerSummaryWire(
        id=item.id,
        node=item.node,
        department=item.department,
        feedback_deadline=item.feedback_deadline,
        status=item.status,
        feedback_count=item.feedback_count,
        last_feedback_at=item.last_feedback_at,
        created_at=item.created_at,
        updated_at=item.updated_at,
        closed_at=item.closed_at,
        version=item.version,
    )
