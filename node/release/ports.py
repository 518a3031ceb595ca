"""What the release domain needs from the orders domain above it (DESIGN §6): a request filed
for an order's addressee is granted to that addressee's handler, and only while the order is open
for them. Orders implements ``OrderAccess``; ``node.wiring`` provides it."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy.orm import Session

from node.context import Port


class OrderAccess(Protocol):
    def handler(self, session: Session, order_id: str, addressee: str) -> tuple[str, str] | None:
        """(user id, name) of the addressee's handler once they acknowledged the order; None
        before that."""
        ...

    def is_open(self, session: Session, order_id: str, addressee: str) -> bool:
        """Is the order still open (not closed) for ``addressee``?"""
        ...


ORDER_ACCESS: Port[OrderAccess] = Port("release.order_access")
