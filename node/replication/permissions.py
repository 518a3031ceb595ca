"""Least privilege on the wire: which accounts, subjects and imports each NATS user may use.

Each node's server has one account for itself and one per child (DESIGN §10):

- ``NODE`` holds the node's JetStream (its ``OUT`` and ``IN`` streams, its consumer) and its one
  local user, **the node service** (client port, nkey). It may publish its own outbound
  subjects, use its own server's JetStream API (``$JS.API.>`` never crosses a leaf link: the
  server denies it between domains), ack its own consumer, and ask each neighbour's JetStream
  one thing: ``STREAM.INFO`` of the neighbour's ``OUT`` (the source watch's probe). Replies reach
  it on its own inbox prefix, and it hears its consumer's delivery-limit advisory. The link to
  the parent binds to this account.
- ``LEAF_<child>`` is where a **child's leaf link** lands (its client certificate is mapped to
  the child's user there). It shares with ``NODE`` only the services and streams of its own
  sourcing link (``sourcing_link``): consumer-create on the parent's ``OUT`` filtered to
  ``fs.<parent>.down.<child>``, the probe, flow-control replies and deliveries on the link's own
  deliver prefix, each way. Replies to requests cross by the server's service-import mapping
  (``_R_``) and reach only the requester.

The separate account is what makes the boundary hold: nats-server passes ``$JS.ACK.*`` and
``_R_.*`` from a leaf without any permission check, so in a shared account a child could ack
its parent's consumer; in its own account there is no consumer of the parent's to reach. The
leaf user's permissions (an allow-list; a refused subject closes the link) say the same once
more, and each child refuses, in its own remote's ``deny_imports``, the parent's use of its
JetStream beyond what sourcing needs.

So no credential can delete, purge or update another node's stream, read or ack another node's
consumer, publish on another node's subjects or receive what is addressed to another node.
"""

from __future__ import annotations

from dataclasses import dataclass

from node.replication.routing import (
    consumer_name,
    down_subject,
    in_stream,
    inbox_prefix,
    out_stream,
    out_subjects,
    source_deliver_prefix,
    up_subject,
)
from node.topology import Topology

# Replies to the consumer-create requests a server sends for stream sourcing.
SOURCING_REPLIES = "$JSC.R.*"
SERVICE_REPLIES = "_R_.>"
# The account of a node's JetStream and node service; each child's link has its own.
NODE_ACCOUNT = "NODE"


def child_account(child: str) -> str:
    return f"LEAF_{child}"


@dataclass(frozen=True)
class SourcingLink:
    """What crosses between a node's account and its child's link account, per direction.

    ``parent_*`` are exported by the parent's account to the child's: the child's server
    creating its consumer on the parent's ``OUT`` (filtered to what is addressed to the child;
    the JetStream domain mapping has already turned ``$JS.<parent>.API`` into ``$JS.API`` by
    then), the probe, flow-control replies to those consumers, and their deliveries.
    ``child_*`` are exported by the child's account to the parent's: the parent's server
    creating its consumer on the child's ``OUT`` (filtered to the child's upward subject), the
    parent's probe, flow-control replies, and the deliveries. Replies to requests travel back
    through the server's service-import reply mapping (``_R_``): they reach the requester only.
    """

    parent_services: list[str]
    parent_streams: list[str]
    child_services: list[str]
    child_streams: list[str]


def sourcing_link(parent: str, child: str) -> SourcingLink:
    return SourcingLink(
        parent_services=[
            f"$JS.API.CONSUMER.CREATE.{out_stream(parent)}.*.{down_subject(parent, child)}",
            f"$JS.API.STREAM.INFO.{out_stream(parent)}",
            f"$JS.FC.{out_stream(parent)}.>",
        ],
        parent_streams=[f"{source_deliver_prefix(child, parent)}.>"],
        child_services=[
            f"$JS.{child}.API.CONSUMER.CREATE.{out_stream(child)}.*.{up_subject(child)}",
            f"$JS.{child}.API.STREAM.INFO.{out_stream(child)}",
            f"$JS.FC.{out_stream(child)}.>",
        ],
        child_streams=[f"{source_deliver_prefix(parent, child)}.>"],
    )


@dataclass(frozen=True)
class Permissions:
    publish: list[str]
    subscribe: list[str]


def service_permissions(topology: Topology, node: str) -> Permissions:
    """The node service on its own server."""
    neighbours = [p for p in [topology.parent(node)] if p is not None]
    neighbours += topology.children(node)
    return Permissions(
        publish=[
            out_subjects(node),
            "$JS.API.>",
            f"$JS.ACK.{in_stream(node)}.{consumer_name(node)}.>",
            *(f"$JS.{peer}.API.STREAM.INFO.{out_stream(peer)}" for peer in neighbours),
        ],
        subscribe=[
            f"{inbox_prefix(node)}.>",
            # The consumer's delivery-limit advisory (the service dead-letters what it gives up).
            f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{in_stream(node)}.{consumer_name(node)}",
        ],
    )


def child_leaf_permissions(parent: str, child: str) -> Permissions:
    """``child``'s leaf link on ``parent``'s listener, from the leaf's point of view."""
    return Permissions(
        publish=[
            f"$JS.{parent}.API.CONSUMER.CREATE.{out_stream(parent)}.*."
            f"{down_subject(parent, child)}",
            f"$JS.{parent}.API.STREAM.INFO.{out_stream(parent)}",
            f"{source_deliver_prefix(parent, child)}.>",
            f"$JS.FC.{out_stream(parent)}.>",
            # Replies to the parent's requests, mapped by the server's service imports: they
            # exist only in the child's own account, for requests made to this child.
            SERVICE_REPLIES,
        ],
        subscribe=[
            # Exactly ``.*.fs.<child>.up`` would be right, but a leaf does not propagate its
            # interest in ``$JS.<child>.API.CONSUMER.>`` when the allow-list entry has a ``*``
            # before further tokens; the child's own ``deny_imports`` narrows this again.
            f"$JS.{child}.API.CONSUMER.CREATE.{out_stream(child)}.>",
            f"$JS.{child}.API.STREAM.INFO.{out_stream(child)}",
            f"{source_deliver_prefix(child, parent)}.>",
            f"$JS.FC.{out_stream(child)}.>",
            SOURCING_REPLIES,
            f"{inbox_prefix(child)}.>",
        ],
    )


def remote_deny_imports(node: str) -> list[str]:
    """What ``node`` refuses to take from its parent whatever the parent's server allows: its
    own subjects, acks, and every JetStream API verb on its own domain except what the parent's
    sourcing of its ``OUT`` and the probe need (a parent is trusted to relay, not to manage)."""
    api = f"$JS.{node}.API"
    return [
        "fs.>",
        "$JS.ACK.>",
        f"{api}.INFO",
        *(
            f"{api}.STREAM.{verb}.>"
            for verb in (
                "CREATE",
                "UPDATE",
                "DELETE",
                "PURGE",
                "MSG",
                "SNAPSHOT",
                "RESTORE",
                "LEADER",
                "PEER",
            )
        ),
        f"{api}.STREAM.INFO.{in_stream(node)}",
        f"{api}.STREAM.NAMES",
        f"{api}.STREAM.LIST",
        f"{api}.CONSUMER.CREATE.{in_stream(node)}.>",
        # Consumer-create on OUT without a filter in the subject, or with a filter of other
        # than three tokens (its own subjects are fs.<node>.up and fs.<node>.down.<child>).
        f"{api}.CONSUMER.CREATE.{out_stream(node)}.*",
        f"{api}.CONSUMER.CREATE.{out_stream(node)}.*.*",
        f"{api}.CONSUMER.CREATE.{out_stream(node)}.*.*.*",
        f"{api}.CONSUMER.CREATE.{out_stream(node)}.*.*.*.*.>",
        *(
            f"{api}.CONSUMER.{verb}.>"
            for verb in ("DURABLE", "DELETE", "MSG", "INFO", "NAMES", "LIST", "LEADER", "PAUSE")
        ),
        f"{api}.CONSUMER.UNPIN.>",
        f"{api}.CONSUMER.RESET.>",
        f"{api}.DIRECT.>",
        f"{api}.ACCOUNT.>",
        f"{api}.META.>",
        f"{api}.SERVER.>",
        f"{api}.$KV.>",
        f"{api}.$OBJ.>",
    ]
