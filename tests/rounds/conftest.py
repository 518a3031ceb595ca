from __future__ import annotations

from tests.inprocess import mini_federation

__all__ = ["mini_federation"]
