"""Per-channel sequence numbers: counters and kept envelopes at the origin, positions at the
receiver (DESIGN §10: relays that drop messages are noticed).

Revision ID: 0008_sequences
Revises: 0005_http
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_sequences"
down_revision = "0005_http"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sequence_counters",
        sa.Column("channel", sa.String(64), primary_key=True),
        sa.Column("last", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "sent_sequence",
        sa.Column("channel", sa.String(64), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sa.Column("msg_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("object_id", sa.String(64), nullable=True),
        sa.Column("envelope", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_sent_sequence_created", "sent_sequence", ["created_at"])
    op.create_index("ix_sent_sequence_object", "sent_sequence", ["kind", "object_id"])
    op.create_table(
        "inbound_sequences",
        sa.Column("origin", sa.String(64), primary_key=True),
        sa.Column("channel", sa.String(64), primary_key=True),
        sa.Column("contiguous", sa.BigInteger, nullable=False),
        sa.Column("highest", sa.BigInteger, nullable=False),
        sa.Column("filled", sa.BigInteger, nullable=False),
        sa.Column("voided", sa.BigInteger, nullable=False),
        sa.Column("resend_requested_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "inbound_sequence_received",
        sa.Column("origin", sa.String(64), primary_key=True),
        sa.Column("channel", sa.String(64), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("inbound_sequence_received")
    op.drop_table("inbound_sequences")
    op.drop_index("ix_sent_sequence_object", table_name="sent_sequence")
    op.drop_index("ix_sent_sequence_created", table_name="sent_sequence")
    op.drop_table("sent_sequence")
    op.drop_table("sequence_counters")
