"""``mhs-fhir clients | users | keys``: administering the authorization server.

Records live in the same database as the resources (``--database-url``). Secrets are shown
once, when made, and stored only as hashes.
"""

from __future__ import annotations

import json
import secrets
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import click

from fhir_server.cli_options import database_option
from fhir_server.clock import parse_instant
from smart_auth.keys import rotate
from smart_auth.passwords import hash_password, password_problems
from smart_auth.records import (
    Assurance,
    AuthStore,
    Client,
    ClientKind,
    ProxyGrant,
    User,
    digest,
)
from smart_auth.scopes import parse_scopes
from smart_auth.service import open_auth_store


@contextmanager
def _store(database_url: str) -> Iterator[AuthStore]:
    try:
        store = open_auth_store(database_url)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    store.open()
    try:
        yield store
    finally:
        store.close()


# clients -----------------------------------------------------------------------------------------


@click.group()
def clients() -> None:
    """Register, list and remove SMART client applications."""


@clients.command(name="add")
@click.argument("name")
@click.option(
    "--kind",
    type=click.Choice([k.value for k in ClientKind]),
    required=True,
    help="public (browser/native app, PKCE only), symmetric (client secret, HTTP Basic),"
    " asymmetric (private_key_jwt), backend (SMART Backend Services: system/ scopes).",
)
@click.option("--client-id", help="Choose the client_id [default: generated].")
@click.option(
    "--redirect-uri", "redirect_uris", multiple=True, help="Exact redirect URI (repeatable)."
)
@click.option(
    "--scope",
    required=True,
    help="The most this client may be granted, e.g. 'launch/patient openid fhirUser"
    " offline_access patient/*.rs' or, for a backend, 'system/*.rs'.",
)
@click.option(
    "--jwks",
    "jwks_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="File with the client's public JWKS (asymmetric, backend).",
)
@click.option("--jwks-url", help="URL of the client's public JWKS (asymmetric, backend).")
@database_option
def add_client(
    name: str,
    kind: str,
    client_id: str | None,
    redirect_uris: tuple[str, ...],
    scope: str,
    jwks_file: Path | None,
    jwks_url: str | None,
    database_url: str,
) -> None:
    """Register a client called NAME; prints its client_id (and secret, once)."""
    client_kind = ClientKind(kind)
    scopes = parse_scopes(scope)
    if scopes.rejected:
        raise click.BadParameter(
            f"not SMART scopes: {' '.join(scopes.rejected)}", param_hint="--scope"
        )
    if client_kind is ClientKind.BACKEND:
        if redirect_uris:
            raise click.BadParameter(
                "a backend client has no redirect URI", param_hint="--redirect-uri"
            )
        if any(r.level != "system" for r in scopes.resources):
            raise click.BadParameter(
                "a backend client gets system/ scopes only", param_hint="--scope"
            )
    elif not redirect_uris:
        raise click.BadParameter("give at least one", param_hint="--redirect-uri")
    needs_keys = client_kind in (ClientKind.ASYMMETRIC, ClientKind.BACKEND)
    jwks = json.loads(jwks_file.read_text()) if jwks_file else None
    if needs_keys and not (jwks or jwks_url):
        raise click.BadParameter("asymmetric and backend clients need --jwks or --jwks-url")
    if not needs_keys and (jwks or jwks_url):
        raise click.BadParameter(f"a {kind} client has no keys")
    secret = secrets.token_urlsafe(32) if client_kind is ClientKind.SYMMETRIC else None
    record = Client(
        client_id=client_id or secrets.token_urlsafe(12),
        name=name,
        kind=client_kind,
        scope=str(scopes),
        redirect_uris=redirect_uris,
        secret_digest=digest(secret) if secret else None,
        jwks=jwks,
        jwks_url=jwks_url,
        created=time.time(),
    )
    with _store(database_url) as store:
        if store.get_client(record.client_id) is not None:
            raise click.ClickException(f"client {record.client_id} exists already")
        store.put_client(record)
    click.echo(f"client_id: {record.client_id}")
    if secret:
        click.echo(f"client_secret: {secret}  (shown once; only its hash is stored)")


@clients.command(name="list")
@database_option
def list_clients(database_url: str) -> None:
    """List registered clients."""
    with _store(database_url) as store:
        for c in store.list_clients():
            uris = ", ".join(c.redirect_uris) or "-"
            click.echo(
                f"{c.client_id}\t{c.kind.value}\t{c.name}\tscope: {c.scope}\tredirect: {uris}"
            )


@clients.command(name="remove")
@click.argument("client_id")
@database_option
def remove_client(client_id: str, database_url: str) -> None:
    """Remove a client; every token it holds stops working."""
    with _store(database_url) as store:
        if not store.remove_client(client_id):
            raise click.ClickException(f"no client {client_id}")
    click.echo(f"removed {client_id}")


# users -------------------------------------------------------------------------------------------


@click.group()
def users() -> None:
    """Beneficiary and staff accounts (DS Logon-style username and password)."""


def _read_password(from_stdin: bool, username: str) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    problems = password_problems(password, username=username)
    if problems:
        raise click.ClickException("the password is not acceptable: " + "; ".join(problems))
    return password


@users.command(name="add")
@click.argument("username")
@click.option("--name", required=True, help="The person's name, as shown on pages.")
@click.option("--dod-id", help="10-digit DoD ID (EDIPI): links the account to its Patient.")
@click.option("--fhir-user", help="The account's FHIR resource, e.g. Patient/123.")
@click.option(
    "--assurance",
    type=click.Choice([a.value for a in Assurance]),
    default=Assurance.BASIC.value,
    show_default=True,
    help="premium (Level 2) is needed for clinical data.",
)
@click.option("--email", help="For password reset mail.")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@database_option
def add_user(
    username: str,
    name: str,
    dod_id: str | None,
    fhir_user: str | None,
    assurance: str,
    email: str | None,
    password_stdin: bool,
    database_url: str,
) -> None:
    """Create account USERNAME (asks for its password)."""
    if dod_id is not None and not (len(dod_id) == 10 and dod_id.isdigit()):
        raise click.BadParameter("a DoD ID is 10 digits", param_hint="--dod-id")
    password = _read_password(password_stdin, username)
    with _store(database_url) as store:
        if store.get_user(username) is not None:
            raise click.ClickException(f"user {username} exists already")
        taken = store.get_user_by_dod_id(dod_id) if dod_id is not None else None
        if taken is not None:
            raise click.ClickException(f"DoD ID {dod_id} belongs to user {taken.username}")
        store.put_user(
            User(
                username=username,
                password_hash=hash_password(password),
                name=name,
                dod_id=dod_id,
                fhir_user=fhir_user,
                assurance=Assurance(assurance),
                email=email,
                created=time.time(),
            )
        )
    click.echo(f"created {username}")


@users.command(name="list")
@database_option
def list_users(database_url: str) -> None:
    """List accounts."""
    now = time.time()
    with _store(database_url) as store:
        for u in store.list_users():
            state = "locked" if u.locked else ("locked-out" if u.locked_until > now else "active")
            click.echo(
                f"{u.username}\t{u.name}\tdod-id: {u.dod_id or '-'}\t{u.assurance.value}\t{state}"
            )


def _change_user(database_url: str, username: str, **changes: object) -> None:
    with _store(database_url) as store:
        user = store.get_user(username)
        if user is None:
            raise click.ClickException(f"no user {username}")
        fields = {n: getattr(user, n) for n in User.__dataclass_fields__}
        store.put_user(User(**{**fields, **changes}))
        if changes.get("locked"):
            store.revoke_user(username)


@users.command(name="lock")
@click.argument("username")
@database_option
def lock_user(username: str, database_url: str) -> None:
    """Lock an account: no login, and every token it holds stops working."""
    _change_user(database_url, username, locked=True)
    click.echo(f"locked {username}")


@users.command(name="unlock")
@click.argument("username")
@database_option
def unlock_user(username: str, database_url: str) -> None:
    """Unlock an account (also clears a lockout after failed logins)."""
    _change_user(database_url, username, locked=False, locked_until=0.0, failed_logins=0)
    click.echo(f"unlocked {username}")


@users.command(name="set-assurance")
@click.argument("username")
@click.argument("level", type=click.Choice([a.value for a in Assurance]))
@database_option
def set_assurance(username: str, level: str, database_url: str) -> None:
    """Set an account's identity assurance (basic or premium)."""
    _change_user(database_url, username, assurance=Assurance(level))
    click.echo(f"{username}: {level}")


# keys --------------------------------------------------------------------------------------------


@click.group()
def keys() -> None:
    """The authorization server's signing keys."""


@keys.command(name="rotate")
@database_option
def rotate_keys(database_url: str) -> None:
    """Make a new signing key; older keys stay published until their tokens have expired."""
    with _store(database_url) as store:
        key = rotate(store)
    click.echo(f"new signing key {key.kid}")


# audit -------------------------------------------------------------------------------------------


@click.command(name="audit")
@click.option("--since", help="Only records from this date or instant on (e.g. 2026-11-01).")
@click.option("--patient", help="Only records on behalf of this Patient id.")
@click.option("--limit", default=1000, show_default=True, type=click.IntRange(1, 10_000_000))
@click.option(
    "--format",
    "output",
    type=click.Choice(["text", "fhir"]),
    default="text",
    show_default=True,
    help="text: one line a record; fhir: one AuditEvent resource a line (NDJSON).",
)
@database_option
def audit(
    since: str | None, patient: str | None, limit: int, output: str, database_url: str
) -> None:
    """List the audit trail: every FHIR request, who made it, for whom, and how it ended."""
    start = 0.0
    if since:
        try:
            start = parse_instant(since).timestamp()
        except ValueError:
            raise click.BadParameter(
                "a date or instant, e.g. 2026-11-01", param_hint="--since"
            ) from None
    with _store(database_url) as store:
        records = store.audit_records(since=start, patient=patient, limit=limit)
    for r in records:
        if output == "fhir":
            click.echo(json.dumps(r.as_audit_event(), separators=(",", ":")))
            continue
        when = datetime.fromtimestamp(r.recorded, UTC).isoformat(timespec="seconds")
        click.echo(
            f"{when}\t{r.status}\t{r.action} {r.what}\t{r.subject} ({r.role})"
            f"\tclient={r.client_id or '-'}\tpatient={r.patient or '-'}\tfrom={r.source or '-'}"
        )


# proxy grants ------------------------------------------------------------------------------------


@click.group()
def grants() -> None:
    """Explicit proxy grants: a beneficiary lets someone act for them with full access."""


@grants.command(name="add")
@click.option("--patient", required=True, help="The granting beneficiary's Patient id.")
@click.option("--to", "grantee", required=True, help="The grantee's 10-digit DoD ID (EDIPI).")
@click.option("--note", default="", help="Why (shown in `grants list`).")
@database_option
def add_grant(patient: str, grantee: str, note: str, database_url: str) -> None:
    """Let the holder of DoD ID --to act for Patient --patient (full access)."""
    if not (len(grantee) == 10 and grantee.isdigit()):
        raise click.BadParameter("a DoD ID is 10 digits", param_hint="--to")
    grant = ProxyGrant(
        id=secrets.token_hex(8),
        patient_id=patient,
        grantee_dod_id=grantee,
        created=time.time(),
        note=note,
    )
    with _store(database_url) as store:
        store.put_proxy_grant(grant)
    click.echo(f"grant {grant.id}: DoD ID {grantee} may act for Patient/{patient}")


@grants.command(name="list")
@click.option("--patient", help="Only grants by this Patient id.")
@database_option
def list_grants(patient: str | None, database_url: str) -> None:
    """List grants that are in force."""
    with _store(database_url) as store:
        for g in store.proxy_grants(patient_id=patient):
            when = datetime.fromtimestamp(g.created, UTC).isoformat(timespec="seconds")
            click.echo(f"{g.id}\tPatient/{g.patient_id}\tto {g.grantee_dod_id}\t{when}\t{g.note}")


@grants.command(name="revoke")
@click.argument("grant_id")
@database_option
def revoke_grant(grant_id: str, database_url: str) -> None:
    """Revoke a grant; every token its grantee holds stops working at once."""
    with _store(database_url) as store:
        grant = store.revoke_proxy_grant(grant_id, time.time())
        if grant is None:
            raise click.ClickException(f"no grant {grant_id} in force")
        grantee = store.get_user_by_dod_id(grant.grantee_dod_id)
        if grantee is not None:
            store.revoke_user(grantee.username)
    click.echo(f"revoked {grant_id}")
