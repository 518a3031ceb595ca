"""Over real NATS (one nats-server and one API process per node): a node restarted on the
previous envelope version (``FEDSHARE_ENVELOPE_VERSION=1``) exchanges every class of record both
ways with the rest of the tree (DESIGN §11, mixed versions); then an ancestor revokes it through
the admin API and its envelopes are dead-lettered where they arrive (``revoked_origin``)."""

from __future__ import annotations

import json

import pytest

from tests.support import FederationClient, wait_for

pytestmark = pytest.mark.federation
ALL = ["central", "shaanxi", "yanan", "huanglong", "yichuan"]


def bodies(origin: str, other: str) -> list[dict[str, object]]:
    return [
        {"category": "policy", "title": f"{origin} 通报", "body": "正文"},
        {
            "category": "inspection_finding",
            "title": f"{origin} 受限",
            "body": "正文",
            "classification": "restricted",
            "parties": [other],
        },
        {
            "category": "inspection_finding",
            "title": f"{origin} 秘密",
            "body": "正文",
            "classification": "secret",
            "parties": [other],
        },
    ]


def test_previous_version_node_then_its_revocation(demo_federation: FederationClient) -> None:
    fed = demo_federation.federation
    fed.env_overrides["huanglong"] = {"FEDSHARE_ENVELOPE_VERSION": "1"}
    fed.stop_api("huanglong")
    fed.start_api("huanglong")

    sent: list[tuple[str, str]] = []
    for origin, other in (("huanglong", "central"), ("central", "huanglong")):
        for body in bodies(origin, other):
            record = demo_federation.create_record(origin, body)
            sent.append((record["id"], other))
    for record_id, receiver in sent:
        wait_for(
            lambda r=record_id, n=receiver: demo_federation.record_version(n, r) is not None,
            message=f"record {record_id} at {receiver}",
        )
    versions = {
        json.loads(bytes(raw))["v"]
        for (raw,) in demo_federation.db_rows("huanglong", "SELECT envelope FROM sent_sequence")
    }
    assert versions == {1}
    central_versions = {
        json.loads(bytes(raw))["v"]
        for (raw,) in demo_federation.db_rows("central", "SELECT envelope FROM sent_sequence")
    }
    assert central_versions == {2}
    for node in ALL:
        assert demo_federation.db_rows(node, "SELECT reason FROM dead_letters") == [], node

    # yanan (its parent) revokes it; the revocation reaches the rest of the tree.
    revoked = demo_federation.post(
        "yanan",
        "admin",
        "/api/v1/federation/members/huanglong/revocation",
        json={"reason": "密钥泄露"},
    )
    assert revoked.status_code == 200, revoked.text
    for node in ("central", "shaanxi", "yanan", "yichuan"):
        wait_for(
            lambda n=node: (
                demo_federation.db_rows(n, "SELECT node_id FROM member_revocations")
                == [("huanglong",)]
            ),
            message=f"revocation at {node}",
        )
    members = demo_federation.get("yanan", "admin", "/api/v1/federation/members").json()
    assert {m["id"]: m["status"] for m in members["items"]}["huanglong"] == "revoked"
    late = demo_federation.create_record("huanglong", bodies("huanglong", "central")[0])
    wait_for(
        lambda: (
            demo_federation.db_rows("yanan", "SELECT reason, origin FROM dead_letters")
            == [("revoked_origin", "huanglong")]
        ),
        message="huanglong's record dead-lettered at yanan",
    )
    for node in ("central", "shaanxi", "yanan", "yichuan"):
        assert demo_federation.record_version(node, late["id"]) is None
