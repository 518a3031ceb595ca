"""Every envelope kind this node understands: importing a module registers its handlers.

``record`` lives in node.replication.inbox. Domain packages that replicate (release, orders, audit
checkpoints) register their handlers with ``@inbox.handles(kind)`` and are imported here.
"""

from __future__ import annotations

import importlib

HANDLER_MODULES: tuple[str, ...] = (
    "node.replication.inbox",
    "node.release.handlers",
    "node.audit.checkpoints",
    "node.orders.handlers",
    "node.ledger.handlers",
)


def load_handlers() -> None:
    for module in HANDLER_MODULES:
        importlib.import_module(module)
