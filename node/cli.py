"""``fedshare``: root, keys, pki, db upgrade, users, node run and certify, topology, demo, audit
verify, bench, bulletin."""

from __future__ import annotations

import gc
import getpass
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import ValidationError

from node.crypto import generate_keys, load_keys, public_key_text, write_keys
from node.settings import Settings, parse_lifetime
from node.storage import restrict_umask

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from node.audit.chain import AuditLog
    from node.certificates import NodeCertificate
    from node.policy import Actor
    from node.topology import Topology

app = typer.Typer(
    help="fedshare: 巡视巡察上下联动信息共享平台 node and federation tools.", no_args_is_help=True
)
keys_app = typer.Typer(help="Node keys.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema (Alembic).", no_args_is_help=True)
user_app = typer.Typer(help="Users and tokens.", no_args_is_help=True)
node_app = typer.Typer(help="Run a node.", no_args_is_help=True)
audit_app = typer.Typer(help="Audit chain.", no_args_is_help=True)
demo_app = typer.Typer(help="The demo federation.", invoke_without_command=True)
bench_app = typer.Typer(help="Benchmarks (figures as ratios to a baseline).", no_args_is_help=True)
topology_app = typer.Typer(help="Topology files.", no_args_is_help=True)
pki_app = typer.Typer(help="The federation CA and node certificates.", no_args_is_help=True)
bulletin_app = typer.Typer(
    help="Bulletins (检查通报) and the statistics workbook, fetched from a running node.",
    no_args_is_help=True,
)
root_app = typer.Typer(
    help="The offline root key of the identity chain (DESIGN §11).", no_args_is_help=True
)
join_code_app = typer.Typer(
    help="One-time codes for new children (at the parent).", no_args_is_help=True
)
join_request_app = typer.Typer(
    help="Join requests of new children (at the parent, through its running API).",
    no_args_is_help=True,
)
for sub, name in (
    (join_code_app, "join-code"),
    (join_request_app, "join-request"),
    (root_app, "root"),
    (keys_app, "keys"),
    (db_app, "db"),
    (user_app, "user"),
    (node_app, "node"),
    (audit_app, "audit"),
    (demo_app, "demo"),
    (bench_app, "bench"),
    (topology_app, "topology"),
    (pki_app, "pki"),
    (bulletin_app, "bulletin"),
):
    app.add_typer(sub, name=name)

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Node data directory.")]
NodeIdOpt = Annotated[str | None, typer.Option("--node-id", help="This node's id.")]
DbUrl = Annotated[str | None, typer.Option("--database-url", help="SQLAlchemy database URL.")]
TopologyOpt = Annotated[Path | None, typer.Option("--topology", help="Topology file (TOML).")]
RootKeyOpt = Annotated[
    Path,
    typer.Option("--root-key", help="The federation's root public key (root.pub)."),
]
SerialOpt = Annotated[
    int, typer.Option("--serial", min=1, help="Certificate serial: higher than any earlier one.")
]
DaysOpt = Annotated[int, typer.Option("--days", min=1, help="Validity in days.")]


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def load_settings(
    data_dir: Path | None = None,
    node_id: str | None = None,
    database_url: str | None = None,
    topology: Path | None = None,
) -> Settings:
    overrides: dict[str, object] = {}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    if node_id is not None:
        overrides["node_id"] = node_id
    if database_url is not None:
        overrides["database_url"] = database_url
    if topology is not None:
        overrides["topology_file"] = topology
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        messages = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise fail(f"invalid settings: {messages}") from exc


@keys_app.command("init")
def keys_init(
    data_dir: DataDir = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing keys.")] = False,
) -> None:
    """Make this node's Ed25519 signing and X25519 encryption keys (mode 0600)."""
    settings = load_settings(data_dir)
    keys = generate_keys()
    try:
        write_keys(keys, settings.keys_dir, force=force)
    except FileExistsError as exc:
        raise fail(f"keys already exist in {settings.keys_dir} ({exc}); use --force") from exc
    typer.echo(f"# public keys of node {settings.node_id}: paste into its topology entry")
    typer.echo(public_key_text(keys), nl=False)


@keys_app.command("show")
def keys_show(data_dir: DataDir = None) -> None:
    """Print this node's public keys in topology form."""
    settings = load_settings(data_dir)
    try:
        keys = load_keys(settings.keys_dir)
    except FileNotFoundError as exc:
        raise fail(str(exc)) from exc
    typer.echo(public_key_text(keys), nl=False)


@keys_app.command("rotate")
def keys_rotate(
    out: Annotated[
        Path, typer.Option("--out", help="Where the announcement (JSON) for the parent goes.")
    ],
    data_dir: DataDir = None,
    node_id: NodeIdOpt = None,
) -> None:
    """Make this node's next key pair beside the current one (KEYS/next, mode 0600) and an
    announcement of it signed by the current signing key. Give the announcement to the parent
    ('fedshare node certify --announcement'); the node switches to the next keys by itself when
    it learns the certificate naming them, and both keys are accepted during the overlap
    (FEDSHARE_KEY_OVERLAP_S)."""
    import json

    from node.clock import make_clock
    from node.members.service import prepare_rotation

    settings = load_settings(data_dir, node_id)
    try:
        announcement = prepare_rotation(
            settings.keys_dir, settings.node_id, make_clock(settings.test_clock_file).now()
        )
    except FileExistsError as exc:
        raise fail(
            f"a rotation is already pending in {settings.keys_dir / 'next'} ({exc})"
        ) from exc
    except FileNotFoundError as exc:
        raise fail(str(exc)) from exc
    out.write_text(json.dumps(announcement.document(), ensure_ascii=False) + "\n", "utf-8")
    typer.echo(f"next keys of {settings.node_id} announced: {out}; give it to the parent")


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None, database_url: DbUrl = None) -> None:
    """Create or migrate the schema to the newest revision."""
    from node.db import upgrade_database

    settings = load_settings(data_dir, database_url=database_url)
    upgrade_database(settings.database_url)
    typer.echo("database at head")


ExpiresIn = Annotated[
    str | None,
    typer.Option(
        "--expires-in",
        help="Token lifetime: 90d, 12h, 30m, 3600s or never (default: FEDSHARE_TOKEN_LIFETIME).",
    ),
]


def _lifetime(settings: Settings, expires_in: str | None) -> timedelta | None:
    if expires_in is None:
        return settings.token_lifetime
    try:
        return parse_lifetime(expires_in)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--expires-in") from exc


def _operator(settings: Settings) -> Actor:
    """Who the audit chain names for a change made here: the operator's login on this host."""
    from node.policy import Actor

    try:
        login = getpass.getuser()
    except (KeyError, OSError):
        login = "unknown"
    return Actor(
        user_id="operator", name=f"cli:{login}"[:100], role="operator", node=settings.node_id
    )


@contextmanager
def _user_admin(settings: Settings) -> Iterator[tuple[Session, AuditLog, Actor, datetime]]:
    """A transaction for user commands, with the node's audit chain: a change that cannot be
    audited is not made (no keys, no change)."""
    from sqlalchemy.exc import SQLAlchemyError

    from node.audit.chain import AuditLog
    from node.clock import make_clock
    from node.db import make_engine, make_sessionmaker
    from node.errors import NodeError

    try:
        keys = load_keys(settings.keys_dir)
    except FileNotFoundError as exc:
        raise fail(
            f"no node keys in {settings.keys_dir}: user changes are audited in the node's signed "
            "chain; run `fedshare keys init` first"
        ) from exc
    clock = make_clock(settings.test_clock_file)
    engine = make_engine(settings.database_url)
    try:
        with make_sessionmaker(engine)() as session, session.begin():
            yield session, AuditLog(settings.node_id, keys, clock), _operator(settings), clock.now()
    except NodeError as exc:
        raise fail(exc.message) from exc
    except SQLAlchemyError as exc:
        raise fail(
            f"the database refused ({type(exc).__name__}); is it migrated (`fedshare db upgrade`)?"
        ) from exc
    finally:
        engine.dispose()


PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin", help="Read the console password from the first line of stdin."
    ),
]


def _read_password(from_stdin: bool, *, required: bool) -> str | None:
    """The console password: the first line of stdin with ``--password-stdin``, else asked twice
    on a terminal (left empty: none, unless ``required``); none without a terminal."""
    from node.errors import NodeError
    from node.users.sessions import check_password_strength

    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        prompt = "Console password" + ("" if required else " (empty: token only)")
        password = getpass.getpass(prompt + ": ")
        if password and getpass.getpass("Repeat it: ") != password:
            raise fail("the two passwords differ")
    else:
        password = ""
    if not password:
        if required:
            raise fail("no password given (use --password-stdin or a terminal)")
        return None
    try:
        return check_password_strength(password)
    except NodeError as exc:
        raise fail(exc.message) from exc


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="User name (Chinese allowed).")],
    role: Annotated[str, typer.Option("--role", help="inspector|approver|security_officer|admin")],
    expires_in: ExpiresIn = None,
    password_stdin: PasswordStdin = False,
    data_dir: DataDir = None,
    node_id: NodeIdOpt = None,
    database_url: DbUrl = None,
) -> None:
    """Add a user and print its bearer token (shown once, stored hashed; audited). Its console
    password is asked for on a terminal, or read with --password-stdin (argon2-hashed)."""
    from node.users.service import add_user
    from node.users.sessions import hash_password

    settings = load_settings(data_dir, node_id, database_url)
    lifetime = _lifetime(settings, expires_in)
    password = _read_password(password_stdin, required=False)
    password_hash = hash_password(password) if password else None
    with _user_admin(settings) as (session, audit, operator, now):
        _user, token = add_user(
            session,
            audit=audit,
            by=operator,
            name=name,
            role=role,
            node=settings.node_id,
            now=now,
            lifetime=lifetime,
            password_hash=password_hash,
        )
    typer.echo(token)


@user_app.command("password")
def user_password(
    name: Annotated[str, typer.Argument(help="User name.")],
    password_stdin: PasswordStdin = False,
    data_dir: DataDir = None,
    node_id: NodeIdOpt = None,
    database_url: DbUrl = None,
) -> None:
    """Set a user's console password (ends their sessions, lifts a lock-out; audited)."""
    from node.users.service import get_user_by_name_or_raise
    from node.users.sessions import set_password

    settings = load_settings(data_dir, node_id, database_url)
    password = _read_password(password_stdin, required=True)
    assert password is not None
    with _user_admin(settings) as (session, audit, operator, _now):
        user = get_user_by_name_or_raise(session, name)
        set_password(session, audit=audit, by=operator, user=user, password=password)
    typer.echo(f"password of {user.name} set")


@user_app.command("list")
def user_list(
    data_dir: DataDir = None, node_id: NodeIdOpt = None, database_url: DbUrl = None
) -> None:
    """List this node's users: name, role, status, token expiry (never a token)."""
    from node.clock import iso
    from node.users.service import list_users, user_status

    settings = load_settings(data_dir, node_id, database_url)
    with _user_admin(settings) as (session, audit, operator, now):
        rows = [
            (
                user.name,
                user.role,
                user_status(user, now),
                iso(user.token_expires_at) if user.token_expires_at else "never",
            )
            for user in list_users(session, audit=audit, by=operator)
        ]
    typer.echo("name\trole\tstatus\ttoken expires")
    for row in rows:
        typer.echo("\t".join(row))


@user_app.command("disable")
def user_disable(
    name: Annotated[str, typer.Argument(help="User name.")],
    data_dir: DataDir = None,
    node_id: NodeIdOpt = None,
    database_url: DbUrl = None,
) -> None:
    """Disable a user: its token is refused from now on (audited)."""
    _set_disabled(load_settings(data_dir, node_id, database_url), name, disabled=True)


@user_app.command("enable")
def user_enable(
    name: Annotated[str, typer.Argument(help="User name.")],
    data_dir: DataDir = None,
    node_id: NodeIdOpt = None,
    database_url: DbUrl = None,
) -> None:
    """Enable a disabled user again (audited)."""
    _set_disabled(load_settings(data_dir, node_id, database_url), name, disabled=False)


def _set_disabled(settings: Settings, name: str, *, disabled: bool) -> None:
    from node.users.service import get_user_by_name_or_raise, set_disabled

    with _user_admin(settings) as (session, audit, operator, _now):
        user = get_user_by_name_or_raise(session, name)
        changed = set_disabled(session, audit=audit, by=operator, user=user, disabled=disabled)
    state = "disabled" if disabled else "enabled"
    typer.echo(f"user {user.name} {state}" if changed else f"user {user.name} was already {state}")


@user_app.command("rotate-token")
def user_rotate_token(
    name: Annotated[str, typer.Argument(help="User name.")],
    expires_in: ExpiresIn = None,
    data_dir: DataDir = None,
    node_id: NodeIdOpt = None,
    database_url: DbUrl = None,
) -> None:
    """Replace a user's token and print the new one; the old one stops working (audited)."""
    from node.users.service import get_user_by_name_or_raise, rotate_token

    settings = load_settings(data_dir, node_id, database_url)
    lifetime = _lifetime(settings, expires_in)
    with _user_admin(settings) as (session, audit, operator, now):
        user = get_user_by_name_or_raise(session, name)
        token = rotate_token(
            session, audit=audit, by=operator, user=user, now=now, lifetime=lifetime
        )
    typer.echo(token)


@node_app.command("run")
def node_run(
    host: Annotated[str, typer.Option(help="Listen address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Listen port.")] = 8000,
    data_dir: DataDir = None,
    node_id: NodeIdOpt = None,
    database_url: DbUrl = None,
    topology: TopologyOpt = None,
) -> None:
    """Serve this node's API (and replication, when FEDSHARE_NATS_URL is set)."""
    import uvicorn

    from node.api.app import create_app
    from node.wiring import build_context

    settings = load_settings(data_dir, node_id, database_url, topology)
    try:
        ctx = build_context(settings)
    except (FileNotFoundError, ValueError) as exc:
        raise fail(str(exc)) from exc
    api = create_app(ctx=ctx)
    # Everything made so far lives as long as the process: keep it out of the cyclic GC's full
    # passes, which otherwise walk it all every few dozen requests (~40 ms pauses in
    # ``fedshare bench list``, the p99 of a list page).
    gc.freeze()
    # The client address (rate limits, audited denials) is the TCP peer, unless the settings
    # name the reverse proxies whose X-Forwarded-For is believed: uvicorn's own default would
    # believe any local process.
    trusted = settings.forwarded_allow_ips.strip()
    uvicorn.run(
        api,
        host=host,
        port=port,
        log_level="warning",
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or None,
    )


@audit_app.command("verify")
def audit_verify(
    data_dir: DataDir = None,
    node_id: NodeIdOpt = None,
    database_url: DbUrl = None,
    topology: TopologyOpt = None,
    federation: Annotated[
        bool, typer.Option("--federation", help="Also check subordinates' checkpoints.")
    ] = False,
) -> None:
    """Verify the audit chain; exit 1 and name each problem if it was tampered with."""
    from node.audit.verify import verify_chain
    from node.db import make_engine, make_sessionmaker

    settings = load_settings(data_dir, node_id, database_url, topology)
    try:
        keys = load_keys(settings.keys_dir)
    except FileNotFoundError as exc:
        raise fail(str(exc)) from exc
    engine = make_engine(settings.database_url)
    ok = True
    try:
        with make_sessionmaker(engine)() as session:
            previous = settings.keys_dir / "previous"
            signing = [keys.signing_public_b64]
            if (previous / "signing.key").exists():
                # Rotated: the head may still carry the old key's signature until the next entry.
                signing.append(load_keys(previous).signing_public_b64)
            report = verify_chain(session, node=settings.node_id, signing_public_key=signing)
            typer.echo(f"node {report.node}: {report.entries} entries")
            for problem in report.problems:
                typer.echo(f"  TAMPERED: {problem}")
            ok = report.ok
            if federation:
                from node.audit.federation import verify_federation

                for line, good in verify_federation(session, settings):
                    typer.echo(line)
                    ok = ok and good
    finally:
        engine.dispose()
    if not ok:
        raise typer.Exit(1)
    typer.echo("audit chain intact")


def _verified_topology(path: Path, root_key_file: Path) -> Topology:
    """Load ``path``, every certificate verified up to the root key in ``root_key_file``."""
    from node.certificates import read_root_public
    from node.clock import make_clock
    from node.topology import TopologyError, load_topology

    try:
        root_key = read_root_public(root_key_file)
        return load_topology(path, root_key=root_key, now=make_clock(None).now())
    except (TopologyError, FileNotFoundError, ValueError) as exc:
        raise fail(str(exc)) from exc


def _read_public_keys(path: Path) -> tuple[str, str]:
    """(signing, encryption) public keys from a file 'fedshare keys show' printed."""
    import tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return str(data["signing_key"]), str(data["encryption_key"])
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise fail(f"{path}: not a public key file from 'fedshare keys show' ({exc})") from exc


def _write_certificate(certificate: NodeCertificate, out: Path) -> None:
    out.write_text(certificate.to_json() + "\n", encoding="utf-8")
    typer.echo(
        f"certificate of {certificate.node} (serial {certificate.serial}, valid "
        f"{certificate.not_before.isoformat()} to {certificate.not_after.isoformat()}, issued by "
        f"{certificate.issuer}): {out}"
    )


@root_app.command("init")
def root_init(
    root_dir: Annotated[Path, typer.Option("--dir", help="Where root.key (0600) and root.pub go.")],
) -> None:
    """Make the federation's root key (Ed25519; keep root.key offline: it signs only the central
    node's certificate) and print its public key, which every node is installed with (root.pub).
    Never overwrites an existing root key."""
    from node.certificates import ROOT_PUBLIC_FILE, init_root, public_key_b64

    try:
        key = init_root(root_dir)
    except FileExistsError as exc:
        raise fail(str(exc)) from exc
    typer.echo(f"# root public key ({root_dir / ROOT_PUBLIC_FILE}): install it on every node")
    typer.echo(public_key_b64(key))


@root_app.command("certify")
def root_certify(
    root_dir: Annotated[Path, typer.Option("--dir", help="The root key's directory.")],
    key_file: Annotated[
        Path, typer.Option("--key-file", help="The central node's 'fedshare keys show' output.")
    ],
    node_id: Annotated[str, typer.Option("--id", help="The central node's id.")],
    name: Annotated[str, typer.Option("--name", help="Its Chinese name.")],
    out: Annotated[Path, typer.Option("--out", help="Where the certificate (JSON) goes.")],
    serial: SerialOpt = 1,
    days: DaysOpt = 3650,
) -> None:
    """Sign the central node's certificate with the root key (the only one the root signs)."""
    from node.certificates import ROOT_ISSUER, CertificateError, issue_certificate, load_root_key
    from node.certificates import validity as window
    from node.clock import make_clock

    signing_key, encryption_key = _read_public_keys(key_file)
    try:
        root = load_root_key(root_dir)
        not_before, not_after = window(make_clock(None).now(), days)
        certificate = issue_certificate(
            issuer_key=root,
            issuer=ROOT_ISSUER,
            node=node_id,
            name=name,
            parent=None,
            signing_key=signing_key,
            encryption_key=encryption_key,
            serial=serial,
            not_before=not_before,
            not_after=not_after,
        )
    except (FileNotFoundError, CertificateError) as exc:
        raise fail(str(exc)) from exc
    _write_certificate(certificate, out)


@node_app.command("certify")
def node_certify(
    child_id: Annotated[str, typer.Option("--id", help="The child's node id.")],
    name: Annotated[str, typer.Option("--name", help="The child's Chinese name.")],
    out: Annotated[Path, typer.Option("--out", help="Where the certificate (JSON) goes.")],
    child_key_file: Annotated[
        Path | None,
        typer.Option("--child-key-file", help="The child's 'fedshare keys show' output."),
    ] = None,
    announcement_file: Annotated[
        Path | None,
        typer.Option(
            "--announcement",
            help="A key rotation: the child's 'fedshare keys rotate' output, verified with its "
            "current certified key (from the topology file).",
        ),
    ] = None,
    serial: SerialOpt = 1,
    days: DaysOpt = 730,
    data_dir: DataDir = None,
    node_id: NodeIdOpt = None,
    topology: TopologyOpt = None,
) -> None:
    """As this node (the parent), certify a child: its id, name and public keys, signed with this
    node's signing key. Only the child's public keys are read; its private keys never leave it.
    For a rotation give --announcement (and a --serial above the current one): the next keys are
    certified only if the child's current key signed them."""
    from node.certificates import CertificateError, issue_certificate
    from node.certificates import validity as window
    from node.clock import make_clock

    settings = load_settings(data_dir, node_id, topology=topology)
    if (child_key_file is None) == (announcement_file is None):
        raise fail("give exactly one of --child-key-file and --announcement")
    if announcement_file is not None:
        signing_key, encryption_key = _verified_announcement(settings, announcement_file, child_id)
    else:
        assert child_key_file is not None
        signing_key, encryption_key = _read_public_keys(child_key_file)
    try:
        keys = load_keys(settings.keys_dir)
        not_before, not_after = window(make_clock(settings.test_clock_file).now(), days)
        certificate = issue_certificate(
            issuer_key=keys.signing,
            issuer=settings.node_id,
            node=child_id,
            name=name,
            parent=settings.node_id,
            signing_key=signing_key,
            encryption_key=encryption_key,
            serial=serial,
            not_before=not_before,
            not_after=not_after,
        )
    except (FileNotFoundError, CertificateError) as exc:
        raise fail(str(exc)) from exc
    _write_certificate(certificate, out)


def _verified_announcement(settings: Settings, path: Path, child_id: str) -> tuple[str, str]:
    """The next (signing, encryption) keys a child announced, verified with its current
    certified signing key from the node's topology file."""
    import json

    from node.certificates import CertificateError, KeyAnnouncement, verify_announcement

    if settings.topology_file is None:
        raise fail("--announcement needs the topology (--topology or FEDSHARE_TOPOLOGY_FILE)")
    tree = _verified_topology(settings.topology_file, settings.root_key_path)
    if child_id not in tree or tree.parent(child_id) != settings.node_id:
        raise fail(f"{child_id} is not a child of {settings.node_id} in {settings.topology_file}")
    try:
        announcement = KeyAnnouncement.from_document(json.loads(path.read_text("utf-8")))
        if announcement.node != child_id:
            raise CertificateError("conflict", f"the announcement is {announcement.node}'s")
        verify_announcement(announcement, tree.get(child_id).signing_key)
    except (OSError, ValueError, CertificateError) as exc:
        raise fail(f"{path}: {exc}") from exc
    return announcement.signing_key, announcement.encryption_key


@node_app.command("revoke")
def node_revoke(
    revoked_id: Annotated[str, typer.Argument(help="The node to revoke (below this one).")],
    serials: Annotated[
        list[int],
        typer.Option("--serial", min=1, help="Certificate serial to revoke (repeatable)."),
    ],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept with the revocation).")],
    out: Annotated[Path, typer.Option("--out", help="Where the revocation (JSON) goes.")],
    data_dir: DataDir = None,
    node_id: NodeIdOpt = None,
) -> None:
    """As this node (an ancestor), sign a revocation of a node's certificates (the serials given
    and every earlier one). Hand it to a running node (POST /api/v1/federation/revocations, or
    revoke there directly: POST /api/v1/federation/members/<id>/revocation): every node then
    refuses the node and its subtree."""
    from node.certificates import issue_revocation
    from node.clock import make_clock

    settings = load_settings(data_dir, node_id)
    try:
        keys = load_keys(settings.keys_dir)
    except FileNotFoundError as exc:
        raise fail(str(exc)) from exc
    revocation = issue_revocation(
        issuer_key=keys.signing,
        issuer=settings.node_id,
        node=revoked_id,
        serials=serials,
        time=make_clock(settings.test_clock_file).now(),
        reason=reason,
    )
    out.write_text(revocation.to_json() + "\n", encoding="utf-8")
    typer.echo(
        f"revocation of {revoked_id} (serials up to {revocation.up_to_serial}) by "
        f"{settings.node_id}: {out}"
    )


@node_app.command("resync")
def node_resync(
    api: Annotated[
        str, typer.Option("--api", help="The running node's API address (http://host:port).")
    ],
    token: Annotated[
        str,
        typer.Option(
            "--token", envvar="FEDSHARE_TOKEN", help="An admin's bearer token of that node."
        ),
    ],
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Follow the progress until it completes.")
    ] = True,
    timeout: Annotated[
        float, typer.Option(help="Give up following after this many seconds.")
    ] = 3600,
    interval: Annotated[float, typer.Option(help="Seconds between progress lines.")] = 2.0,
) -> None:
    """Ask the node's parent for a resync (after an outage longer than the streams keep
    messages, or a restore from an old backup): everything the node is entitled to, in pages,
    verified and applied as if it had streamed. Shows the progress until it completes."""
    import time

    import httpx

    headers = {"Authorization": f"Bearer {token}"}
    url = api.rstrip("/") + "/api/v1/federation/resync"
    try:
        with httpx.Client(timeout=30) as http:
            started = http.post(url, headers=headers)
            if started.status_code != 202:
                body = (
                    started.json()
                    if started.headers.get("content-type", "").startswith("application/json")
                    else {}
                )
                raise fail(
                    f"resync refused ({started.status_code} {body.get('error', '')}): "
                    f"{body.get('detail', started.text[:200])}"
                )
            progress = started.json()
            typer.echo(f"resync {progress['id']} from {progress['parent']}: asked")
            deadline = time.monotonic() + timeout
            while wait and progress.get("state") != "complete":
                if time.monotonic() > deadline:
                    raise fail(f"resync {progress['id']} not complete after {timeout:g}s")
                time.sleep(interval)
                try:
                    response = http.get(url, headers=headers)
                except httpx.TimeoutException:
                    typer.echo("  (the node is busy; asking again)")
                    continue
                if response.status_code == 503:
                    continue  # its database was busy for a moment
                if response.status_code != 200:
                    raise fail(f"progress unavailable ({response.status_code})")
                progress = response.json()
                typer.echo(_resync_line(progress))
    except httpx.HTTPError as exc:
        raise fail(f"{api}: {type(exc).__name__}: {exc}") from exc
    if wait:
        typer.echo(
            f"resync complete: {progress['applied']} applied, {progress['held']} already held, "
            f"{progress['refused']} refused, {progress['voided']} sequence numbers closed"
        )


def _resync_line(progress: dict[str, object]) -> str:
    total = progress.get("total")
    share = progress.get("progress")
    of = f"/{total}" if total is not None else ""
    percent = f" ({float(share) * 100:.0f}%)" if isinstance(share, int | float) else ""
    return (
        f"  {progress.get('state')}: {progress.get('received')}{of} envelopes{percent} in "
        f"{progress.get('pages')} pages; applied {progress.get('applied')}, held "
        f"{progress.get('held')}, refused {progress.get('refused')}"
    )


ApiOpt = Annotated[
    str,
    typer.Option("--api", envvar="FEDSHARE_API", help="The node's API address (http://host:port)."),
]
UserTokenOpt = Annotated[
    str,
    typer.Option(
        "--token",
        envvar="FEDSHARE_TOKEN",
        help="Your bearer token at that node (better in FEDSHARE_TOKEN than on the command line).",
    ),
]
OutOpt = Annotated[Path, typer.Option("--out", help="The file to write.")]
ForceOpt = Annotated[bool, typer.Option("--force", help="Replace the file if it exists.")]


def _download(
    api: str, token: str, path: str, params: dict[str, str], out: Path, *, force: bool
) -> None:
    """GET ``path`` from the node as the token's user and write the answer to ``out`` (beside
    it first, then renamed: never a half-written file). The node checks the user's role, builds
    the file from what that user may read, and audits it."""
    import httpx

    if out.exists() and not force:
        raise fail(f"{out} exists (--force replaces it)")
    try:
        with httpx.Client(timeout=300) as http:
            response = http.get(
                api.rstrip("/") + path,
                params=params,
                headers={"Authorization": f"Bearer {token}"},
            )
    except httpx.HTTPError as exc:
        raise fail(f"{api}: {type(exc).__name__}: {exc}") from exc
    if response.status_code != 200:
        body = (
            response.json()
            if response.headers.get("content-type", "").startswith("application/json")
            else {}
        )
        detail = body.get("detail", "")
        raise fail(
            f"refused ({response.status_code} {body.get('error', '')}): "
            f"{detail if isinstance(detail, str) else 'invalid parameters'}"
        )
    partial = out.with_name(f".{out.name}.partial")
    try:
        partial.write_bytes(response.content)
        partial.replace(out)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise fail(f"{out}: {exc.strerror or exc}") from exc
    typer.echo(f"{out}: {len(response.content)} bytes")


@bulletin_app.command("rectification")
def bulletin_rectification(
    api: ApiOpt,
    token: UserTokenOpt,
    out: OutOpt,
    since: Annotated[
        str | None, typer.Option("--from", help="First month, YYYY-MM (default: January).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--to", help="Last month, YYYY-MM (default: this month).")
    ] = None,
    subtree: Annotated[
        str | None,
        typer.Option("--subtree", help="A node of the node's subtree (default: the node)."),
    ] = None,
    force: ForceOpt = False,
) -> None:
    """The rectification status bulletin (检查通报) of a period over a subtree, as a Word
    document (DOCX): built by the node from what your user may read, and audited there."""
    params = {
        name: value
        for name, value in (("from", since), ("to", until), ("subtree", subtree))
        if value is not None
    }
    _download(api, token, "/api/v1/bulletins/rectification.docx", params, out, force=force)


@bulletin_app.command("stats")
def bulletin_stats(
    api: ApiOpt,
    token: UserTokenOpt,
    out: OutOpt,
    since: Annotated[str | None, typer.Option("--since", help="First month, YYYY-MM.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Last month, YYYY-MM.")] = None,
    months: Annotated[
        int | None,
        typer.Option("--months", help="Without --since: the last N months (0: all)."),
    ] = None,
    force: ForceOpt = False,
) -> None:
    """Every table of the node's statistics as an Excel workbook (XLSX), one sheet per table."""
    params = {
        name: str(value)
        for name, value in (("since", since), ("until", until), ("months", months))
        if value is not None
    }
    _download(api, token, "/api/v1/stats/export.xlsx", params, out, force=force)


@topology_app.command("add")
def topology_add(
    path: Annotated[Path, typer.Argument(help="Topology file (made if missing).")],
    certificate_file: Annotated[
        Path, typer.Option("--certificate", help="The node's certificate (JSON).")
    ],
    api: Annotated[str, typer.Option("--api", help="The node's API address.")],
    nats: Annotated[str, typer.Option("--nats", help="The node's own NATS client address.")],
    leaf: Annotated[str, typer.Option("--leaf", help="Where its children's leaf links connect.")],
    root_key: RootKeyOpt,
) -> None:
    """Add a certified node to a topology file (or replace its entry): the whole file is verified
    up to the root key before it is written. Parents go in before their children."""
    import json

    from node.certificates import CertificateError, NodeCertificate, read_root_public
    from node.topology import NodeInfo, Topology, TopologyError, dump_topology

    try:
        certificate = NodeCertificate.from_document(
            json.loads(certificate_file.read_text(encoding="utf-8"))
        )
        root = read_root_public(root_key)
    except (OSError, ValueError, CertificateError) as exc:
        raise fail(f"{exc}") from exc
    info = NodeInfo.certified(certificate, api=api, nats=nats, leaf=leaf)
    try:
        if path.exists():
            tree = _verified_topology(path, root_key).with_node(info)
        else:
            tree = Topology([info], root_key=root)
    except TopologyError as exc:
        raise fail(str(exc)) from exc
    path.write_text(dump_topology(tree), encoding="utf-8")
    typer.echo(f"{certificate.node} in {path}")


@topology_app.command("check")
def topology_check(path: Path, root_key: RootKeyOpt) -> None:
    """Validate a topology file: the tree, and every certificate up to the root key."""
    topology = _verified_topology(path, root_key)
    for node_id, info in topology.nodes.items():
        typer.echo(f"{'  ' * topology.depth(node_id)}{node_id} ({info.name})")


@topology_app.command("nats-config")
def topology_nats_config(
    path: Annotated[Path, typer.Argument(help="Topology file.")],
    node_id: Annotated[str, typer.Option("--node-id", help="Node to render the config for.")],
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="The node's data directory (keys, tls, nats).")
    ],
    store_dir: Annotated[
        Path | None, typer.Option("--store-dir", help="JetStream store (DATA_DIR/jetstream).")
    ] = None,
    root_key: Annotated[
        Path | None,
        typer.Option("--root-key", help="The root public key (default DATA_DIR/root.pub)."),
    ] = None,
) -> None:
    """Print the nats-server config of one node: JetStream domain, leafnode links with mutual TLS
    (certificates in DATA_DIR/tls from 'fedshare pki issue'), every user and its permissions.
    Makes the node service's nkey (DATA_DIR/nats/service.nk) and the TLS key file
    (DATA_DIR/tls/node.key, the node's signing key in PEM) if they are missing; both 0600."""
    from node.clock import make_clock
    from node.pki import (
        CA_CERT_FILE,
        CLIENT_CERT_FILE,
        SERVER_CERT_FILE,
        write_leaf_ca_bundle,
        write_node_tls_key,
    )
    from node.replication.natsconf import (
        PID_FILE,
        SERVICE_NKEY_FILE,
        NatsSecurity,
        ensure_service_nkey,
        render_config,
    )

    topology = _verified_topology(path, root_key or data_dir / "root.pub")
    if node_id not in topology:
        raise fail(f"node {node_id!r} is not in {path}")
    data_dir = data_dir.resolve()
    tls_dir = data_dir / "tls"
    needed = [CA_CERT_FILE, SERVER_CERT_FILE]
    if topology.parent(node_id) is not None:
        needed.append(CLIENT_CERT_FILE)
    missing = [name for name in needed if not (tls_dir / name).is_file()]
    if missing:
        raise fail(f"{tls_dir} lacks {', '.join(missing)}: run 'fedshare pki issue {node_id}'")
    try:
        keys = load_keys(data_dir / "keys")
    except FileNotFoundError as exc:
        raise fail(str(exc)) from exc
    write_node_tls_key(keys.signing, tls_dir)
    if topology.get(node_id).leaf:
        # The listener accepts the federation CA's and this node's link CA's client certificates.
        write_leaf_ca_bundle(tls_dir, node_id, now=make_clock(None).now())
    security = NatsSecurity(
        tls_dir=tls_dir, service_nkey=ensure_service_nkey(data_dir / "nats" / SERVICE_NKEY_FILE)
    )
    config = render_config(
        topology,
        node_id,
        (store_dir or data_dir / "jetstream").resolve(),
        security,
        pid_file=data_dir / "nats" / PID_FILE,
    )
    typer.echo(config, nl=False)


@pki_app.command("init-ca")
def pki_init_ca(
    ca_dir: Annotated[Path, typer.Option("--dir", help="Where ca.key (0600) and ca.crt go.")],
    name: Annotated[str, typer.Option(help="The CA's common name.")] = "fedshare federation CA",
    force: Annotated[bool, typer.Option("--force", help="Replace an existing CA.")] = False,
) -> None:
    """Make the federation's CA: an Ed25519 key (keep it offline) and its self-signed cert."""
    from node.clock import make_clock
    from node.pki import CA_CERT_FILE, PkiError, init_ca

    try:
        init_ca(ca_dir, name=name, force=force, now=make_clock(None).now())
    except PkiError as exc:
        raise fail(str(exc)) from exc
    typer.echo(f"CA certificate: {ca_dir / CA_CERT_FILE}; give it to every node")


@pki_app.command("issue")
def pki_issue(
    node_id: Annotated[str, typer.Argument(help="Node to certify.")],
    ca_dir: Annotated[Path, typer.Option("--ca-dir", help="The CA (from 'pki init-ca').")],
    topology: Annotated[Path, typer.Option("--topology", help="Topology file (TOML).")],
    out: Annotated[Path, typer.Option("--out", help="Directory for the node's certificates.")],
    root_key: RootKeyOpt,
    days: Annotated[int, typer.Option(help="Validity in days.")] = 730,
) -> None:
    """Certify the node's Ed25519 key listed in the topology: server.crt (its leaf listener, SANs
    from its addresses) and client.crt (CN=<node id>, its link to its parent), plus ca.crt.
    Only public material is needed: copy the three files to DATA_DIR/tls on the node."""
    from node.clock import make_clock
    from node.pki import PkiError, issue_node_certificates, load_ca, write_node_certificates

    tree = _verified_topology(topology, root_key)
    try:
        ca = load_ca(ca_dir)
    except PkiError as exc:
        raise fail(str(exc)) from exc
    if node_id not in tree:
        raise fail(f"node {node_id!r} is not in {topology}")
    now = make_clock(None).now()
    certificates = issue_node_certificates(ca, tree.get(node_id), days=days, now=now)
    write_node_certificates(ca, certificates, out)
    typer.echo(f"certificates of {node_id} in {out}")


@demo_app.callback()
def demo(
    typer_ctx: typer.Context,
    detach: Annotated[bool, typer.Option("--detach", help="Run in the background.")] = False,
    base_dir: Annotated[Path, typer.Option("--dir", help="Demo directory.")] = Path("var/demo"),
    base_port: Annotated[int, typer.Option("--base-port")] = 18100,
    seed_size: Annotated[
        str,
        typer.Option(
            "--seed-size",
            help="History made before the demo opens: year (a year of activity) or small "
            "(three months, for tests).",
        ),
    ] = "year",
) -> None:
    """Start the five-node demo federation (Ctrl-C stops it; --detach runs it in the background)."""
    if typer_ctx.invoked_subcommand is not None:
        return
    from node.demo import run_demo

    sys.exit(run_demo(base_dir, base_port=base_port, detach=detach, seed_size=seed_size))


@demo_app.command("stop")
def demo_stop(
    base_dir: Annotated[Path, typer.Option("--dir", help="Demo directory.")] = Path("var/demo"),
) -> None:
    """Stop a detached demo federation."""
    from node.demo import stop_demo

    sys.exit(stop_demo(base_dir))


@bench_app.callback()
def bench_from_checkout() -> None:
    # ``bench/`` sits beside ``node/`` in a source checkout and is left out of the wheel; an
    # editable install imports ``node`` from the checkout, so put its root on the path.
    checkout = Path(__file__).resolve().parent.parent
    if not (checkout / "bench" / "__init__.py").is_file():
        raise fail(
            "the benchmarks are not part of the installed package: run `fedshare bench` from a "
            "source checkout (pip install -e .)",
            code=2,
        )
    if str(checkout) not in sys.path:
        sys.path.insert(0, str(checkout))


@bench_app.command("list")
def bench_list(
    records: Annotated[int, typer.Option(help="Records to seed.")] = 100_000,
    pages: Annotated[int, typer.Option(help="Pages to time per role.")] = 200,
    database_url: DbUrl = None,
) -> None:
    """Seed records of mixed classes; time policy-filtered list pages per role."""
    from bench.list_bench import run

    sys.exit(run(records=records, pages=pages, database_url=database_url))


@bench_app.command("replication")
def bench_replication(
    records: Annotated[int, typer.Option(help="Records per throughput run.")] = 2000,
    samples: Annotated[int, typer.Option(help="Latency samples.")] = 100,
) -> None:
    """Raw JetStream baseline, then county->province and county->central throughput and latency."""
    from bench.replication_bench import run

    sys.exit(run(records=records, samples=samples))


@bench_app.command("attachments")
def bench_attachments(
    size_mib: Annotated[int, typer.Option(help="File size in MiB.")] = 20,
    runs: Annotated[int, typer.Option(help="Transfers (the best is reported).")] = 3,
) -> None:
    """A file county->central (three hops) against raw JetStream object-store put+get."""
    from bench.attachments_bench import run

    sys.exit(run(size_mib=size_mib, runs=runs))


@bench_app.command("onboarding")
def bench_onboarding(
    records: Annotated[int, typer.Option(help="Records the county misses and resyncs.")] = 2000,
    page_envelopes: Annotated[
        list[int] | None,
        typer.Option("--page-envelopes", help="Envelopes per resync page (repeatable)."),
    ] = None,
    window: Annotated[
        list[int] | None, typer.Option("--window", help="Pages per resync request (repeatable).")
    ] = None,
) -> None:
    """Join to first record at the root; resync throughput against steady-state replication."""
    from bench.onboarding import run

    sys.exit(run(records=records, page_envelopes=page_envelopes or [500], windows=window or [4]))


@bench_app.command("restart")
def bench_restart(
    restarts: Annotated[int, typer.Option(help="Restarts of each kind.")] = 20,
    kind: Annotated[
        list[str] | None, typer.Option(help="fresh, cold, nats or api (repeatable; default all).")
    ] = None,
) -> None:
    """Time from a restart (whole federation, middle nats-server, middle API) to replication."""
    from bench.restart_bench import run

    sys.exit(run(restarts=restarts, kinds=kind))


@bench_app.command("http")
def bench_http(
    flood: Annotated[int, typer.Option(help="Bad-token requests in the flood.")] = 2000,
    workers: Annotated[int, typer.Option(help="Concurrent flooding clients.")] = 4,
    rate: Annotated[float, typer.Option(help="Flood requests per second, all clients.")] = 100.0,
    samples: Annotated[int, typer.Option(help="Quiet requests timed for the baseline.")] = 300,
    source: Annotated[
        Path | None, typer.Option(help="Run the node from this checkout instead (comparison).")
    ] = None,
) -> None:
    """A user's latency while a flood of bad-token requests hits the node, against quiet."""
    from bench.http_bench import run

    if rate <= 0 or workers < 1 or flood < 1 or samples < 1:
        raise fail("--rate, --workers, --flood and --samples must be positive")
    sys.exit(run(flood=flood, workers=workers, rate=rate, samples=samples, source=source))


@bench_app.command("stats")
def bench_stats(
    records: Annotated[int, typer.Option(help="Records in the subtree.")] = 1_000_000,
    orders: Annotated[int, typer.Option(help="Orders in the subtree.")] = 10_000,
    database_url: DbUrl = None,
) -> None:
    """Statistics queries over a large subtree."""
    from bench.stats_bench import run

    sys.exit(run(records=records, orders=orders, database_url=database_url))


@bench_app.command("search")
def bench_search(
    records: Annotated[int, typer.Option(help="Records at the node.")] = 1_000_000,
    repeats: Annotated[int, typer.Option(help="Runs of each query per role.")] = 20,
    database_url: DbUrl = None,
) -> None:
    """Searches (GET /records?q=) over a large node against an unfiltered page."""
    from bench.search_bench import run

    sys.exit(run(records=records, repeats=repeats, database_url=database_url))


# -- onboarding (issue 12 item 2) ------------------------------------------------------------


@join_code_app.command("issue")
def join_code_issue(
    expires_in: Annotated[
        str, typer.Option("--expires-in", help="How long it admits a request (24h, 7d, …).")
    ] = "24h",
    for_node: Annotated[
        str | None, typer.Option("--for", help="The node id it is for (default: any).")
    ] = None,
    data_dir: DataDir = None,
    node_id: NodeIdOpt = None,
    database_url: DbUrl = None,
    topology: TopologyOpt = None,
) -> None:
    """Print a new one-time join code (shown once; stored hashed; audited). Give it, with this
    node's id and API address, to the new child's operator out of band."""
    from node.errors import NodeError
    from node.members.onboarding import issue_code
    from node.wiring import build_context

    settings = load_settings(data_dir, node_id, database_url, topology)
    try:
        lifetime = parse_lifetime(expires_in)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--expires-in") from exc
    if lifetime is None:
        raise fail("a join code must expire")
    try:
        ctx = build_context(settings)
    except (FileNotFoundError, ValueError) as exc:
        raise fail(str(exc)) from exc
    try:
        with ctx.sessions() as session, session.begin():
            row, code = issue_code(
                session,
                ctx,
                _operator(settings),
                lifetime=lifetime,
                node_id=for_node,
                authorize=False,
            )
            expires = row.expires_at.isoformat()
    except NodeError as exc:
        raise fail(exc.message) from exc
    finally:
        ctx.engine.dispose()
    typer.echo(f"join code {row.id} for {for_node or 'any id'}, until {expires}:", err=True)
    typer.echo(code)


@join_code_app.command("list")
def join_code_list(
    data_dir: DataDir = None,
    node_id: NodeIdOpt = None,
    database_url: DbUrl = None,
    topology: TopologyOpt = None,
) -> None:
    """The join codes issued here and whether each is unused, used or expired (never a code)."""
    from sqlalchemy import select

    from node.members.models import JoinCode
    from node.members.onboarding import code_status
    from node.wiring import build_context

    settings = load_settings(data_dir, node_id, database_url, topology)
    try:
        ctx = build_context(settings)
    except (FileNotFoundError, ValueError) as exc:
        raise fail(str(exc)) from exc
    now = ctx.clock.now()
    with ctx.sessions() as session:
        for row in session.execute(select(JoinCode).order_by(JoinCode.created_at)).scalars():
            typer.echo(
                f"{row.id}  {row.node_id or '*'}  {code_status(row, now)}  "
                f"until {row.expires_at.isoformat()}  by {row.created_by}"
            )
    ctx.engine.dispose()


def _admin_call(
    method: str,
    url: str,
    token: str,
    *,
    params: dict[str, str] | None = None,
    json: dict[str, str] | None = None,
) -> dict[str, object]:
    import httpx

    try:
        response = httpx.request(
            method,
            url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
            params=params,
            json=json,
        )
    except httpx.HTTPError as exc:
        raise fail(f"{url}: {type(exc).__name__}") from exc
    if response.status_code >= 400:
        try:
            body = response.json()
            message = f"{body.get('error')}: {body.get('detail')}"
        except ValueError:
            message = response.text[:200]
        raise fail(f"{response.status_code} {message}")
    result: dict[str, object] = response.json()
    return result


@join_request_app.command("list")
def join_request_list(
    token: UserTokenOpt,
    api: ApiOpt = "http://127.0.0.1:8000",
    status: Annotated[str | None, typer.Option(help="pending, approved or rejected.")] = None,
) -> None:
    """Join requests at the running node: id, node, name, key ids, addresses, state."""
    params = {"status": status} if status else {}
    page = _admin_call("GET", f"{api}/api/v1/federation/join-requests", token, params=params)
    items = page.get("items")
    for item in items if isinstance(items, list) else []:
        typer.echo(
            f"{item['id']}  {item['node']} ({item['name']})  {item['status']}  "
            f"signing key {item['signing_key_id']}  leaf {item['leaf']}  from "
            f"{item['client_address']}"
        )


@join_request_app.command("approve")
def join_request_approve(
    request_id: Annotated[str, typer.Argument(help="The request's id (join-request list).")],
    token: UserTokenOpt,
    api: ApiOpt = "http://127.0.0.1:8000",
) -> None:
    """Approve: the running node certifies the child, broadcasts its certificate and admits its
    leaf link (no restart)."""
    item = _admin_call(
        "POST", f"{api}/api/v1/federation/join-requests/{request_id}/approval", token
    )
    typer.echo(f"approved {item['node']} ({item['name']})")


@join_request_app.command("reject")
def join_request_reject(
    request_id: Annotated[str, typer.Argument(help="The request's id (join-request list).")],
    reason: Annotated[str, typer.Option("--reason", help="Why (the new node is told).")],
    token: UserTokenOpt,
    api: ApiOpt = "http://127.0.0.1:8000",
) -> None:
    """Reject a pending request (its code stays used)."""
    item = _admin_call(
        "POST",
        f"{api}/api/v1/federation/join-requests/{request_id}/rejection",
        token,
        json={"reason": reason},
    )
    typer.echo(f"rejected {item['node']}")


@app.command("join")
def join(
    parent: Annotated[str, typer.Option("--parent", help="The parent's API address.")],
    parent_id: Annotated[str, typer.Option("--parent-id", help="The parent's node id.")],
    new_id: Annotated[str, typer.Option("--id", help="This node's id ([a-z0-9-]+).")],
    name: Annotated[str, typer.Option("--name", help="This node's Chinese name.")],
    api: Annotated[str, typer.Option("--api", help="This node's API address.")],
    nats: Annotated[str, typer.Option("--nats", help="This node's own NATS client address.")],
    leaf: Annotated[
        str, typer.Option("--leaf", help="Where this node's future children's leaf links connect.")
    ],
    code: Annotated[
        str | None,
        typer.Option(
            "--code", help="The one-time code from the parent's admin.", envvar="FEDSHARE_JOIN_CODE"
        ),
    ] = None,
    data_dir: DataDir = None,
    database_url: DbUrl = None,
    wait: Annotated[
        float, typer.Option("--wait", help="Seconds to wait for the approval (then run again).")
    ] = 3600.0,
    poll: Annotated[float, typer.Option("--poll", help="Seconds between polls.")] = 2.0,
) -> None:
    """Join a running federation as a new child: make this node's keys, send a signed join
    request with the one-time code to the parent, wait for its admin's approval, verify the
    answer up to the root key installed in DATA_DIR/root.pub (out of band), and write the node's
    topology, TLS files, nats-server config, database and DATA_DIR/node.env. Run again to keep
    waiting. Then start nats-server on DATA_DIR/nats.conf and `fedshare node run`."""
    from node.joiner import JoinFailed, run_join

    settings = load_settings(data_dir, new_id, database_url)
    try:
        summary = run_join(
            settings,
            parent_url=parent.rstrip("/"),
            parent_id=parent_id,
            name=name,
            addresses={"api": api, "nats": nats, "leaf": leaf},
            code=code,
            wait_s=wait,
            poll_s=poll,
            say=lambda line: typer.echo(line, err=True),
        )
    except JoinFailed as exc:
        raise fail(str(exc), code=exc.exit_code) from exc
    typer.echo(summary)


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    # Databases, keys, NATS stores and logs a command creates are its account's alone (the
    # nats-server and API processes it starts inherit this).
    restrict_umask()
    app()


if __name__ == "__main__":
    main()
