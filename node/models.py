"""SQLAlchemy models. The schema itself is only ever created by the Alembic migrations."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from node.db import Base


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    node: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # None: the token never expires.
    token_expires_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    # An argon2 hash; None: no console login (bearer token only).
    password_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # Failed logins counted since ``login_failures_since``; past the limit, ``locked_until``.
    login_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    login_failures_since: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class LoginSession(Base):
    """A console session: the SHA-256 digest of its random id (the id itself is only ever in the
    user's cookie), its user, when it was last used and when it ends at the latest."""

    __tablename__ = "login_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(36), ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_login_sessions_user", "user_id"),
        Index("ix_login_sessions_expires", "expires_at"),
    )


class Record(Base):
    """A record, or (``is_stub``) the metadata-only stub of a case-secret record held elsewhere.

    Identified by (origin, id): ids are scoped by origin, so no node can take another origin's id
    (DESIGN §2, §10). Load one with ``session.get(Record, {"origin": ..., "id": ...})``."""

    __tablename__ = "records"

    id: Mapped[str] = mapped_column(String(36))
    origin: Mapped[str] = mapped_column(String(64))
    author: Mapped[str] = mapped_column(String(100))
    category: Mapped[str] = mapped_column(String(40))
    classification: Mapped[str] = mapped_column(String(16))
    title: Mapped[str | None] = mapped_column(Text, nullable=True)
    body: Mapped[str | None] = mapped_column(Text, nullable=True)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    is_stub: Mapped[bool] = mapped_column(Boolean, default=False)

    # Loaded with the record, one indexed query each ("immediate"): batch loading ("selectin")
    # would ask for many (origin, id) pairs at once, a row-value IN list that SQLite answers by
    # scanning the whole table. Pages of records load theirs in one query (``node.db.pairs_in``).
    parties: Mapped[list[RecordParty]] = relationship(
        back_populates="record", cascade="all, delete-orphan", lazy="immediate"
    )

    __table_args__ = (
        PrimaryKeyConstraint("origin", "id", name="pk_records"),
        Index("ix_records_id", "id"),
        Index("ix_records_class_id", "classification", "id"),
        Index("ix_records_class_category_id", "classification", "category", "id"),
        Index("ix_records_class_origin_id", "classification", "origin", "id"),
        Index("ix_records_category_id", "category", "id"),
        Index("ix_records_updated_at", "updated_at"),
    )

    @property
    def party_ids(self) -> list[str]:
        return sorted(p.node_id for p in self.parties)


class RecordParty(Base):
    __tablename__ = "record_parties"

    record_origin: Mapped[str] = mapped_column(String(64), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    node_id: Mapped[str] = mapped_column(String(64), primary_key=True)

    record: Mapped[Record] = relationship(back_populates="parties")

    __table_args__ = (
        ForeignKeyConstraint(
            ["record_origin", "record_id"],
            ["records.origin", "records.id"],
            name="fk_record_parties_record",
            ondelete="CASCADE",
        ),
        Index("ix_record_parties_node", "node_id", "record_origin", "record_id"),
    )


class AuditEntry(Base):
    """One link of the append-only, hash-chained audit log. Never holds titles or bodies."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    node: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(40))
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decision: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str | None] = mapped_column(String(300), nullable=True)
    grant_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    # How many identical events this entry stands for (repeated denials are counted, not copied).
    occurrences: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_audit_actor", "actor"),
        Index("ix_audit_object", "object_id"),
        Index("ix_audit_at", "at"),
    )


class AuditHead(Base):
    """The chain's head, updated in the same transaction as each append (catches truncation)."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(128))


class AuditCheckpoint(Base):
    """A signed statement (node, seq, head hash, time): our own, or one received from below."""

    __tablename__ = "audit_checkpoints"

    node: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    head_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    signature: Mapped[str] = mapped_column(String(128))


class OutboxMessage(Base):
    """An envelope waiting to be published; written in the same transaction as the change and
    deleted once the local server acknowledged it (``Outbox.prune_delivered``). ``kind`` and
    ``object_id`` (the envelope's reference) find the rows that carry an object being purged."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    msg_id: Mapped[str] = mapped_column(String(36))
    subject: Mapped[str] = mapped_column(String(200))
    envelope: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    kind: Mapped[str | None] = mapped_column(String(40), nullable=True)
    object_id: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (
        Index("ix_outbox_pending", "sent_at", "id"),
        Index("ux_outbox_msg_subject", "msg_id", "subject", unique=True),
        Index("ix_outbox_object", "kind", "object_id"),
    )


class OutboxStats(Base):
    """What the outbox has delivered (its rows are gone): one row, updated as rows are pruned."""

    __tablename__ = "outbox_stats"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    delivered: Mapped[int] = mapped_column(BigInteger, default=0)
    first_delivered_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    last_delivered_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )


class InboxMessage(Base):
    """An envelope applied here; the key that makes applying idempotent."""

    __tablename__ = "inbox"

    msg_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    origin: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    stream_seq: Mapped[int] = mapped_column(BigInteger)
    applied_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (Index("ix_inbox_object", "origin", "object_id", "version"),)


class DeadLetter(Base):
    """A rejected envelope: why, and a digest of it (never its bytes: they may hold content)."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(200))
    msg_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    origin: Mapped[str | None] = mapped_column(String(64), nullable=True)
    kind: Mapped[str | None] = mapped_column(String(40), nullable=True)
    digest: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)


class Grant(Base):
    """Access to one case-secret record for one user, for a while (an approval or an order)."""

    __tablename__ = "grants"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    record_id: Mapped[str] = mapped_column(String(36))
    record_origin: Mapped[str] = mapped_column(String(64))
    grantee_id: Mapped[str] = mapped_column(String(36))
    grantee_name: Mapped[str] = mapped_column(String(100))
    grantee_node: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(16))
    request_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    order_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # Set once this node has dealt with the grant's end (audited it, deleted released content).
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    __table_args__ = (
        Index("ix_grants_record_grantee", "record_id", "record_origin", "grantee_id"),
        Index("ix_grants_open", "ended_at", "expires_at"),
        Index("ix_grants_request", "request_id"),
    )


class SequenceCounter(Base):
    """The last number this node gave an envelope of its own on one channel (a destination node,
    or ``*`` for broadcasts): ``replication.sequence`` takes the next one in the transaction that
    writes the envelope."""

    __tablename__ = "sequence_counters"

    channel: Mapped[str] = mapped_column(String(64), primary_key=True)
    last: Mapped[int] = mapped_column(BigInteger)


class SentSequence(Base):
    """One of this node's own envelopes, kept for a while under its number on a channel, so that
    a receiver that misses it can ask for it again (``resend-request``)."""

    __tablename__ = "sent_sequence"

    channel: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    msg_id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    envelope: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        Index("ix_sent_sequence_created", "created_at"),
        Index("ix_sent_sequence_object", "kind", "object_id"),
    )


class InboundSequence(Base):
    """How far the numbers of one origin's channel to this node have arrived: every number up to
    ``contiguous``, the highest seen, and what was done about the missing ones in between."""

    __tablename__ = "inbound_sequences"

    origin: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(64), primary_key=True)
    contiguous: Mapped[int] = mapped_column(BigInteger)
    highest: Mapped[int] = mapped_column(BigInteger)
    filled: Mapped[int] = mapped_column(BigInteger)
    voided: Mapped[int] = mapped_column(BigInteger)
    resend_requested_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )


class InboundSequenceReceived(Base):
    """A number received above its channel's ``contiguous`` (deleted once the channel catches up
    to it); when it came shows since when the numbers below it are missing."""

    __tablename__ = "inbound_sequence_received"

    origin: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ResyncEnvelope(Base):
    """An envelope this node sent or relayed down towards a child, kept for resyncing that child
    (``replication.resync_store``): the origin's signed bytes, unchanged. One row per
    destination below (``*`` for a broadcast); a record's latest version only, every other kind
    each envelope."""

    __tablename__ = "resync_envelopes"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    dest: Mapped[str] = mapped_column(String(64))
    origin: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(40))
    object_key: Mapped[str] = mapped_column(String(64))
    version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rank: Mapped[int] = mapped_column(Integer)
    msg_id: Mapped[str] = mapped_column(String(36))
    envelope: Mapped[bytes] = mapped_column(LargeBinary)
    stored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("dest", "origin", "kind", "object_key", name="uq_resync_envelopes_key"),
        Index("ix_resync_envelopes_page", "dest", "rank", "id"),
        Index("ix_resync_envelopes_object", "kind", "object_key"),
        Index("ix_resync_envelopes_stored", "kind", "stored_at"),
    )


class ResyncSession(Base):
    """A resync this node asked its parent for, and how far it got."""

    __tablename__ = "resync_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    parent: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))
    trigger: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    cursor: Mapped[str | None] = mapped_column(String(40), nullable=True)
    total: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pages: Mapped[int] = mapped_column(Integer, default=0)
    received: Mapped[int] = mapped_column(Integer, default=0)
    applied: Mapped[int] = mapped_column(Integer, default=0)
    held: Mapped[int] = mapped_column(Integer, default=0)
    refused: Mapped[int] = mapped_column(Integer, default=0)
    voided: Mapped[int] = mapped_column(Integer, default=0)
    requests: Mapped[int] = mapped_column(Integer, default=0)
    # The highest number of each followed channel among the envelopes received, as JSON
    # {"<origin> <channel>": n}: gaps below it are reconciled when the resync completes.
    channels: Mapped[str] = mapped_column(Text, default="{}")

    __table_args__ = (Index("ix_resync_sessions_state", "state", "started_at"),)
