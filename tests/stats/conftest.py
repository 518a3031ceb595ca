from __future__ import annotations

from tests.orders.harness import mini_federation

__all__ = ["mini_federation"]
