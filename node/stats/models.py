"""The record rollup: per (origin, class, category, deleted, month), how many records and stubs.

The table is maintained by database triggers on ``records`` (migration 0003), in the same
transaction as every insert, update and delete, whoever writes: the records service, the inbox,
a bulk load. So it always equals that ``GROUP BY`` over ``records``, and statistics over a subtree
cost O(groups), not O(records).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from node.db import Base


class RecordStat(Base):
    __tablename__ = "record_stats"
    __table_args__ = {"sqlite_with_rowid": False}

    origin: Mapped[str] = mapped_column(String(64), primary_key=True)
    classification: Mapped[str] = mapped_column(String(16), primary_key=True)
    category: Mapped[str] = mapped_column(String(40), primary_key=True)
    deleted: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    month: Mapped[str] = mapped_column(String(7), primary_key=True)
    n: Mapped[int] = mapped_column(BigInteger)
    stubs: Mapped[int] = mapped_column(BigInteger)
