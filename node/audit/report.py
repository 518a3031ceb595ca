"""``GET /api/v1/audit/verify``: the check ``fedshare audit verify --federation`` runs, on demand,
for security officers: this node's chain (every link, the signed head, its own checkpoints) and
each subordinate against the checkpoints held here (and its chain, where its database is
reachable). It only reads; the request adds one audit entry saying the check was run and what it
found."""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from node.audit.federation import verify_subtree
from node.audit.schemas import VerifyFindingOut, VerifyOut
from node.audit.service import check_auditor
from node.audit.verify import verify_chain
from node.context import NodeContext
from node.policy import Actor

_NODE_LINE = re.compile(r"^node ([a-z0-9-]+): ")


def verify_now(session: Session, ctx: NodeContext, actor: Actor) -> VerifyOut:
    """Run the whole check now; every finding is reported, tampering included (never raised)."""
    check_auditor(ctx, actor, "audit_log")
    # The walk detaches what it loaded (expunge_all, to bound memory): nothing of this request
    # may be left unflushed in the session when it starts.
    session.flush()
    report = verify_chain(
        session,
        node=ctx.node_id,
        signing_public_key=[ctx.keys.signing_public_b64, *ctx.keys.previous_signing_public],
    )
    findings = []
    for line, good in verify_subtree(session, ctx.settings, ctx.topology):
        match = _NODE_LINE.match(line)
        findings.append(
            VerifyFindingOut(node=match.group(1) if match else None, ok=good, detail=line)
        )
    subordinates_ok = all(f.ok for f in findings)
    ctx.audit.append(
        session,
        actor=actor,
        action="verify",
        object_type="audit_log",
        decision="allow",
        reason=(
            f"{report.entries} entries, {len(report.problems)} problems, "
            f"subordinates {'consistent' if subordinates_ok else 'TAMPERED'}"
        ),
    )
    return VerifyOut(
        node=ctx.node_id,
        checked_at=ctx.clock.now(),
        entries=report.entries,
        ok=report.ok,
        problems=report.problems,
        subordinates_ok=subordinates_ok,
        findings=findings,
    )
