"""Statistics over a node's subtree, from what the node holds (DESIGN §7).

- Records: counts by origin x class x category x status x month (or any subset of those
  dimensions, within a range of months), over origins in the subtree; stubs count (their content
  does not exist here) (``node.stats.queries``).
- Orders: every addressee's state held here (issued, received, or summaries) whose addressee is in
  the subtree, by state, with overdue counts, by month of issue (within the months asked for),
  and the median time from issue to acknowledgement.
- Ledger: items of nodes in the subtree, open / overdue / closed, per node.
- Rectification: demands of inspecting nodes in the subtree, by state with overdue counts, and
  open / overdue / closed per node.
- Rounds: the rounds of the term (this node's and summaries from below) by kind and state,
  problems found, coverage of the term per node and in total, and the synchronised rounds
  launched here (addressees started, late, overdue, problems found).

Statistics read the other domains' state and query modules, never their services.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import TypeVar

from sqlalchemy.orm import Session

from node.common import audited, node_name, require, subtree_nodes
from node.context import NodeContext
from node.ledger.queries import ledger_counts
from node.orders.queries import median_ack_seconds, order_states, targets_by_month
from node.orders.state import OPEN_STATES, STATE_LABELS
from node.policy import Actor
from node.policy.categories import CLASS_LABELS
from node.rectification.queries import rectification_counts
from node.rectification.state import DEADLINES as RECTIFICATION_DEADLINES
from node.rectification.state import STATE_LABELS as RECTIFICATION_LABELS
from node.rounds.queries import Term, launch_count, launch_target_counts, round_counts
from node.rounds.state import ROUND_KIND_LABELS, ROUND_STATE_LABELS
from node.rounds.views import coverage, term_of
from node.stats.figures import LEDGER_OPEN, add_state, in_label_order, tally
from node.stats.queries import CountRow, RecordQuery, record_counts
from node.stats.schemas import (
    LaunchStatsOut,
    LedgerNodeOut,
    LedgerStatsOut,
    OrderMonthOut,
    OrderStateOut,
    OrderStatsOut,
    RecordStatsOut,
    RectificationNodeOut,
    RectificationStateOut,
    RectificationStatsOut,
    RoundKindStateOut,
    RoundStatsOut,
    StatsOut,
)

RECORD_STATUS_LABELS = {"active": "有效", "deleted": "已删除"}
NodeOut = TypeVar("NodeOut", LedgerNodeOut, RectificationNodeOut)


def _record_stats(ctx: NodeContext, query: RecordQuery, rows: Sequence[CountRow]) -> RecordStatsOut:
    labels: dict[str, dict[str, str]] = {}
    for index, dimension in enumerate(query.dimensions):
        codes = {str(row[index]) for row in rows}
        if dimension == "origin":
            labels[dimension] = {code: node_name(ctx, code) for code in sorted(codes)}
        elif dimension == "classification":
            labels[dimension] = {code: CLASS_LABELS.get(code, code) for code in sorted(codes)}
        elif dimension == "category":
            labels[dimension] = {
                code: (c.label_zh if (c := ctx.policy.categories.get(code)) else code)
                for code in sorted(codes)
            }
        elif dimension == "status":
            labels[dimension] = {code: RECORD_STATUS_LABELS[code] for code in sorted(codes)}
    return RecordStatsOut(
        total=sum(row[-2] for row in rows),
        stubs=sum(row[-1] for row in rows),
        dimensions=list(query.dimensions),
        since=query.since,
        until=query.until,
        columns=[*query.dimensions, "count", "stubs"],
        rows=[list(row) for row in rows],
        labels=labels,
    )


def _round_stats(session: Session, ctx: NodeContext, nodes: list[str] | None) -> RoundStatsOut:
    now = ctx.clock.now()
    term: Term = term_of(ctx)
    rows = sorted(
        round_counts(session, nodes, term),
        key=lambda r: (list(ROUND_KIND_LABELS).index(r[0]), list(ROUND_STATE_LABELS).index(r[1])),
    )
    by_kind = [
        RoundKindStateOut(
            kind=kind,
            kind_label=ROUND_KIND_LABELS.get(kind, kind),
            state=state,
            state_label=ROUND_STATE_LABELS.get(state, state),
            count=n,
            problems_found=problems,
        )
        for kind, state, n, problems in rows
    ]
    targets = launch_target_counts(session, ctx.node_id, now)
    total, by_node = coverage(session, ctx, term)

    def in_state(state: str) -> int:
        return sum(r.count for r in by_kind if r.state == state)

    return RoundStatsOut(
        term_start=term.start,
        term_end=term.end,
        total=sum(r.count for r in by_kind),
        planned=in_state("planned"),
        in_progress=in_state("in_progress"),
        completed=in_state("completed"),
        problems_found=sum(r.problems_found for r in by_kind),
        by_kind=by_kind,
        coverage=total,
        coverage_by_node=by_node,
        launches=LaunchStatsOut(
            launched=launch_count(session, ctx.node_id),
            targets=sum(t[1] for t in targets),
            started=sum(t[1] for t in targets if t[0] in ("started", "completed")),
            late=sum(t[2] for t in targets),
            overdue=sum(t[3] for t in targets),
            problems_found=sum(t[4] for t in targets),
        ),
    )


def compute_stats(
    session: Session,
    ctx: NodeContext,
    actor: Actor,
    *,
    group_by: str | None = None,
    since: str | None = None,
    until: str | None = None,
    months: int = 12,
    audit_action: str = "read",
) -> StatsOut:
    """Every figure over this node's subtree; records grouped by ``group_by`` (default: all five
    dimensions) for the months from ``since`` (default: ``months`` back) to ``until``. Audited
    as ``audit_action`` (``read``, or ``export`` for the workbook)."""
    require(
        ctx,
        actor,
        "read-stats",
        object_type="stats",
        message=f"role {actor.role} may not read statistics",
    )
    now = ctx.clock.now()
    query = RecordQuery.parse(group_by, since=since, until=until, months=months, now=now)
    nodes = subtree_nodes(ctx)
    records = _record_stats(ctx, query, record_counts(session, nodes, query))

    states = order_states(session, nodes, now)
    acknowledged, median = median_ack_seconds(session, nodes)
    by_state = [
        OrderStateOut(
            state=state, state_label=STATE_LABELS.get(state, state), count=n, overdue=late
        )
        for state, n, late in sorted(states, key=lambda s: list(STATE_LABELS).index(s[0]))
    ]

    ledger_nodes = _per_node(
        ctx, ledger_counts(session, nodes, now), LedgerNodeOut, open_states=LEDGER_OPEN
    )

    rectification = _rectification_stats(ctx, rectification_counts(session, nodes, now))

    audited(session, ctx, actor, audit_action, object_type="stats")
    return StatsOut(
        node=ctx.node_id,
        node_name=node_name(ctx, ctx.node_id),
        subtree=sorted(ctx.topology.subtree(ctx.node_id)),
        generated_at=now,
        records=records,
        orders=OrderStatsOut(
            total=sum(s.count for s in by_state),
            open=sum(s.count for s in by_state if s.state in OPEN_STATES),
            overdue=sum(s.overdue for s in by_state),
            acknowledged=acknowledged,
            median_ack_seconds=median,
            by_state=by_state,
            by_month=[
                OrderMonthOut(month=month, issued=n, closed=closed, overdue=late)
                for month, n, closed, late in targets_by_month(session, nodes, now, query.since)
            ],
        ),
        ledger=LedgerStatsOut(
            total=sum(n.total for n in ledger_nodes),
            open=sum(n.open for n in ledger_nodes),
            overdue=sum(n.overdue for n in ledger_nodes),
            closed=sum(n.closed for n in ledger_nodes),
            by_node=ledger_nodes,
        ),
        rectification=rectification,
        rounds=_round_stats(session, ctx, nodes),
    )


def _per_node(
    ctx: NodeContext,
    counts: Iterable[tuple[str, str, int, int]],
    out: type[NodeOut],
    *,
    open_states: Collection[str],
) -> list[NodeOut]:
    """Per node, by node id, from (node, state, count, overdue) rows."""
    per_node: dict[str, NodeOut] = {}
    for node_id, state, n, late in counts:
        entry = per_node.setdefault(
            node_id,
            out(
                node=node_id,
                node_name=node_name(ctx, node_id),
                total=0,
                open=0,
                overdue=0,
                closed=0,
            ),
        )
        tally(entry, state, n, late, open_states=open_states)
    return [per_node[k] for k in sorted(per_node)]


def _rectification_stats(
    ctx: NodeContext, counts: list[tuple[str, str, int, int]]
) -> RectificationStatsOut:
    states: dict[str, list[int]] = {}
    for _node_id, state, n, late in counts:
        add_state(states, state, n, late)
    by_state = [
        RectificationStateOut(
            state=state,
            state_label=RECTIFICATION_LABELS.get(state, state),
            count=n,
            overdue=late,
        )
        for state, (n, late) in in_label_order(states.items(), RECTIFICATION_LABELS)
    ]
    nodes = _per_node(
        ctx, counts, RectificationNodeOut, open_states=RECTIFICATION_DEADLINES.open_states
    )
    return RectificationStatsOut(
        total=sum(s.count for s in by_state),
        open=sum(n.open for n in nodes),
        overdue=sum(s.overdue for s in by_state),
        closed=sum(n.closed for n in nodes),
        by_state=by_state,
        by_node=nodes,
    )
