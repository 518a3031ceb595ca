"""Envelope kinds: one typed registry (as synapse's ``EduTypes`` and ``register_edu_handler``).

Every kind a node sends or applies is a member of ``Kind`` with one ``KindSpec``: the Pydantic
wire model its payload is built from (``Outbox.send``) and validated with on receipt, the key of
the envelope's ``ref`` that names the object the payload describes, whether the payload may travel
in clear, and the handler that applies it. Domains declare their specs; ``node.wiring`` registers
them explicitly in the node's ``KindRegistry``; registering a kind twice is an error.

Guarantees (kept by ``KindSpec.apply``, which the inbox calls for every verified envelope):
- A handler sees only an instance of its kind's wire model: a payload that does not validate is
  refused as ``malformed`` before the handler runs.
- ``ref[ref_key]`` names the object the payload describes, else ``origin_mismatch``: an origin
  cannot file one object under another's reference.
- A refusal raised by the handler carries the envelope's identity into the dead-letter table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy.orm import Session

from node.replication.envelope import DETACHED_KINDS, Envelope, EnvelopeRejected


class Kind(StrEnum):
    MEMBER_CERTIFICATE = "member-certificate"
    MEMBER_REVOCATION = "member-revocation"
    RECORD = "record"
    ATTACHMENT_CHUNK = "attachment-chunk"
    ACCESS_REQUEST = "access-request"
    RELEASE = "release"
    GRANT_EVENT = "grant-event"
    AUDIT_CHECKPOINT = "audit-checkpoint"
    ORDER = "order"
    ORDER_UPDATE = "order-update"
    ORDER_SUMMARY = "order-summary"
    LEDGER_SUMMARY = "ledger-summary"
    RECTIFICATION_SUMMARY = "rectification-summary"
    INSPECTED_UNIT_SUMMARY = "inspected-unit-summary"
    ROUND_SUMMARY = "round-summary"
    ROUND_LAUNCH = "round-launch"
    ROUND_LAUNCH_PROGRESS = "round-launch-progress"
    RESEND_REQUEST = "resend-request"
    RESEND = "resend"
    SEQUENCE_VOID = "sequence-void"
    RESYNC_REQUEST = "resync-request"
    RESYNC_PAGE = "resync-page"


class WireModel(BaseModel):
    """A payload as it travels: built with the model when sent, validated with it on receipt.

    Unknown fields are ignored (a newer sender may add some); ``envelope_ref`` is what the
    envelope's ``ref`` says about the payload; ``payload`` is the JSON that is signed (or sealed).
    """

    model_config = ConfigDict(extra="ignore")

    def envelope_ref(self) -> dict[str, Any]:
        raise NotImplementedError(f"{type(self).__name__} travels in no envelope of its own")

    def payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


Applied = tuple[str | None, int | None]
"""What the inbox notes of an applied envelope: (object id, version)."""

C = TypeVar("C")
W = TypeVar("W", bound=WireModel)


@dataclass(frozen=True)
class KindSpec(Generic[C, W]):
    """One envelope kind. ``C`` is the node context the handler gets (kept generic so that this
    module does not import the context, which holds the registry)."""

    kind: str
    wire: type[W]
    ref_key: str | None
    handler: Callable[[Session, C, Envelope, W], Applied]
    clear: bool = False
    """May the payload travel unencrypted? (general records, checkpoints)"""
    prefetch: Callable[[Session, list[Envelope]], dict[str, Any]] | None = None
    """Load, for a batch of this kind's envelopes, the rows the handler will look up (id -> row);
    the inbox keeps them for the batch (``inbox.prefetched``)."""
    detached: bool = False
    """Does every envelope of this kind carry bulk bytes after its header (``Envelope.body``)?
    Only the kinds of ``envelope.DETACHED_KINDS`` do."""
    rebuild: Callable[[Session, C, bytes], bytes | None] | None = None
    """For a detached kind: one of this node's envelopes again, byte for byte, from what was
    kept of it (``envelope.kept_form``) and the object it carries; None if that is gone."""

    def parse(self, envelope: Envelope, payload: dict[str, Any]) -> W:
        """The payload as this kind's wire model; ``malformed`` or ``origin_mismatch`` if not."""
        try:
            wire = self.wire.model_validate(payload)
        except (ValidationError, ValueError) as exc:
            raise envelope.reject("malformed") from exc
        key = self.ref_key
        if key is not None and envelope.ref.get(key) != wire.envelope_ref().get(key):
            raise envelope.reject("origin_mismatch")
        return wire

    def apply(
        self, session: Session, ctx: C, envelope: Envelope, payload: dict[str, Any]
    ) -> Applied:
        """Validate and apply, in the caller's transaction."""
        wire = self.parse(envelope, payload)
        try:
            return self.handler(session, ctx, envelope, wire)
        except EnvelopeRejected as exc:
            if exc.msg_id is None:
                raise envelope.reject(exc.reason) from exc
            raise


class KindRegistry(Generic[C]):
    """The kinds a node understands. Registration is explicit (``node.wiring``), once per kind."""

    def __init__(self) -> None:
        self._specs: dict[str, KindSpec[C, Any]] = {}

    def register(self, spec: KindSpec[C, Any]) -> None:
        if spec.kind in self._specs:
            raise ValueError(f"envelope kind {spec.kind!r} is registered already")
        if spec.detached != (spec.kind in DETACHED_KINDS):
            raise ValueError(f"envelope kind {spec.kind!r} disagrees with DETACHED_KINDS")
        if spec.rebuild is not None and not spec.detached:
            raise ValueError(f"envelope kind {spec.kind!r} is kept whole: nothing to rebuild")
        self._specs[spec.kind] = spec

    def get(self, kind: str) -> KindSpec[C, Any] | None:
        return self._specs.get(kind)

    def require(self, kind: str) -> KindSpec[C, Any]:
        spec = self._specs.get(kind)
        if spec is None:
            raise KeyError(f"envelope kind {kind!r} is not registered")
        return spec

    def __contains__(self, kind: object) -> bool:
        return kind in self._specs

    def __iter__(self) -> Iterator[KindSpec[C, Any]]:
        return iter(self._specs.values())
