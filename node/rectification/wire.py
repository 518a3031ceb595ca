"""The ``rectification-summary`` envelope: a demand's metadata for every ancestor of the
inspecting node (sealed to them). Never the finding, the demand's text, the person responsible,
the unit's report or the evidence: those stay at the inspecting node (the report, a restricted
record, travels only as records do, to the parties it names)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import StringConstraints

from node.clock import WireDateTime
from node.ids import CanonicalUuid
from node.rectification.models import Rectification
from node.rectification.schemas import RectificationState
from node.replication.kinds import WireModel


class RectificationSummaryWire(WireModel):
    id: CanonicalUuid
    node: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    unit_id: Annotated[str, StringConstraints(max_length=64)] | None
    unit_name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    state: RectificationState
    version: int
    deadline: WireDateTime
    issued_at: WireDateTime
    updated_at: WireDateTime
    reported_at: WireDateTime | None
    accepted_at: WireDateTime | None
    closed_at: WireDateTime | None
    reopened_at: WireDateTime | None
    returns: int
    lookbacks: int

    def envelope_ref(self) -> dict[str, Any]:
        return {"rectification": self.id, "version": self.version}


SUMMARY_FIELDS = (
    "unit_id",
    "unit_name",
    "state",
    "version",
    "deadline",
    "issued_at",
    "updated_at",
    "reported_at",
    "accepted_at",
    "closed_at",
    "reopened_at",
    "returns",
    "lookbacks",
)


def summary_wire(item: Rectification) -> RectificationSummaryWire:
    return RectificationSummaryWire(
        id=item.id, node=item.node, **{name: getattr(item, name) for name in SUMMARY_FIELDS}
    )
