"""The authorization server's HTTP endpoints (Starlette routes; they only adapt).

::

    GET  {fhir}/.well-known/smart-configuration   SMART discovery
    GET  /.well-known/openid-configuration         OpenID discovery (also under {fhir})
    GET  /auth/jwks                                the signing keys
    GET|POST /auth/authorize  -> login -> (picker) -> consent -> 302 redirect_uri?code&state
    POST /auth/token | /auth/introspect | /auth/revoke

The browser side of a pending authorization is tied to a cookie: the forms carry the pending
id, and it must equal the cookie the authorize step set, so another site cannot post them.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import time
from datetime import date
from typing import Any

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import AccessDeniedError, InvalidRequestError
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from fhir_server.errors import FhirError
from fhir_server.interactions.context import Context
from smart_auth.certificates import CertificateIdentityError, edipi_from_proxy_header
from smart_auth.context import AccessContext
from smart_auth.discovery import openid_configuration, smart_configuration
from smart_auth.guard import access_for
from smart_auth.keys import jwks
from smart_auth.mail import mail_sender
from smart_auth.pages import (
    consent_page,
    error_page,
    login_page,
    message_page,
    picker_page,
    reset_code_page,
    reset_request_page,
)
from smart_auth.passwords import verify_against_dummy, verify_password
from smart_auth.patients import ActingFor, patients_for
from smart_auth.proxy import LIMITED_TYPES, Link, Reach
from smart_auth.records import (
    Assurance,
    Grant,
    Launch,
    Pending,
    Session,
    User,
    digest,
    role_of,
)
from smart_auth.reset import complete_reset, request_reset
from smart_auth.scopes import ScopeSet, parse_scopes
from smart_auth.server import CapturedRequest
from smart_auth.service import AuthService

log = logging.getLogger(__name__)

PENDING_COOKIE = "mhs_auth_pending"
SESSION_COOKIE = "mhs_auth_session"
PENDING_LIFETIME = 15 * 60
# Discovery documents and keys are public: readable cross-origin even without an Origin
# header (the CORS middleware answers preflights and requests that send one).
CORS = {"Access-Control-Allow-Origin": "*"}
BASIC_ASSURANCE_TYPES = ("Patient", "Appointment")


def _service(request: Request) -> AuthService:
    service: AuthService = request.app.state.auth_service
    return service


async def _captured(request: Request) -> CapturedRequest:
    if request.method == "POST":
        form = await request.form()
        params = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    else:
        params = list(request.query_params.multi_items())
    return CapturedRequest(
        method=request.method, url=str(request.url), headers=request.headers, params=params
    )


def _html(body: str, status: int = 200) -> HTMLResponse:
    response = HTMLResponse(body, status_code=status)
    response.headers["cache-control"] = "no-store"
    response.headers["x-frame-options"] = "DENY"
    response.headers["content-security-policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


# discovery -------------------------------------------------------------------------------------


async def smart_configuration_endpoint(request: Request) -> Response:
    return JSONResponse(smart_configuration(_service(request).config), headers=CORS)


async def openid_configuration_endpoint(request: Request) -> Response:
    return JSONResponse(openid_configuration(_service(request).config), headers=CORS)


async def jwks_endpoint(request: Request) -> Response:
    keys = await asyncio.to_thread(jwks, _service(request).store)
    return JSONResponse(keys, headers=CORS)


SMART_STYLE = {
    "color_background": "#ffffff",
    "color_error": "#b50909",
    "color_highlight": "#005ea2",
    "color_modal_backdrop": "",
    "color_success": "#00a91c",
    "color_text": "#1b1b1b",
    "dim_border_radius": "4px",
    "dim_font_size": "16px",
    "dim_spacing_size": "16px",
    "font_family_body": "system-ui, sans-serif",
    "font_family_heading": "system-ui, sans-serif",
}


async def smart_style_endpoint(request: Request) -> Response:
    """The style an app may use to blend in (SMART ``smart_style_url``, context-style)."""
    return JSONResponse(SMART_STYLE, headers=CORS)


# EHR launch ------------------------------------------------------------------------------------

LAUNCH_LIFETIME = 300


async def launch_endpoint(request: Request) -> Response:
    """An EHR (a clinician's ``user/`` or a system's ``system/`` token) opens an app for a
    patient: ``POST /auth/launch`` with client_id, patient and optional encounter gives the
    opaque ``launch`` id the app sends to /authorize (bound to that client, single-use)."""
    service = _service(request)
    try:
        access = access_for(request.headers, service.store)
    except FhirError as exc:
        return JSONResponse(
            {"error": "invalid_token", "error_description": exc.diagnostics},
            status_code=401,
            headers=exc.headers,
        )
    if not any(r.level in ("user", "system") for r in access.scopes.resources):
        return JSONResponse(
            {"error": "insufficient_scope", "error_description": "needs a user/ or system/ token"},
            status_code=403,
        )
    form = await request.form()
    client_id, patient = str(form.get("client_id", "")), str(form.get("patient", ""))
    encounter = str(form.get("encounter", "")) or None
    if not patient or await asyncio.to_thread(service.store.get_client, client_id) is None:
        return JSONResponse(
            {
                "error": "invalid_request",
                "error_description": "needs a known client_id and a patient",
            },
            status_code=400,
        )
    launch_id = secrets.token_urlsafe(24)
    await asyncio.to_thread(
        service.store.put_launch,
        Launch(
            digest=digest(launch_id),
            client_id=client_id,
            patient=patient,
            encounter=encounter,
            expires_at=time.time() + LAUNCH_LIFETIME,
            username=access.username,
        ),
    )
    log.info("launch: %s opened client %s for a patient", access.subject, client_id)
    return JSONResponse(
        {"launch": launch_id, "expires_in": LAUNCH_LIFETIME, "iss": service.config.base_url},
        headers={"cache-control": "no-store"},
    )


# token, introspection, revocation ----------------------------------------------------------------


async def _token_like(request: Request, call: str) -> Response:
    service = _service(request)
    captured = await _captured(request)
    if call == "token":
        response = await asyncio.to_thread(service.server.create_token_response, captured)
    else:
        response = await asyncio.to_thread(service.server.create_endpoint_response, call, captured)
    assert isinstance(response, Response)
    response.headers.update(CORS)
    form = dict(captured.params)
    # What happened, never with a secret: the grant type, the client (as it named itself),
    # the status.
    log.info(
        "%s: grant_type=%s client=%s -> %d",
        call,
        form.get("grant_type", "-"),
        form.get("client_id", "(authenticated by header or assertion)"),
        response.status_code,
    )
    return response


async def token_endpoint(request: Request) -> Response:
    return await _token_like(request, "token")


async def introspect_endpoint(request: Request) -> Response:
    return await _token_like(request, "introspection")


async def revoke_endpoint(request: Request) -> Response:
    return await _token_like(request, "revocation")


# the authorization code flow -----------------------------------------------------------------


def _begin(service: AuthService, captured: CapturedRequest) -> Response | str:
    """Validate an authorization request; a redirect or error page, or a new pending id."""
    server = service.server
    try:
        grant = server.get_consent_grant(captured)
    except OAuth2Error as error:
        error.redirect_uri = error.redirect_uri or _trusted_redirect(service, captured.params)
        if error.redirect_uri:
            return server.handle_error_response(None, error)  # type: ignore[no-any-return]
        return _html(error_page("This request cannot be used", error.get_error_description()), 400)
    params = dict(captured.params)
    problem: str | None = None
    if params.get("aud", "").rstrip("/") != service.config.base_url:
        problem = f"aud must be this server's FHIR base URL ({service.config.base_url})"
    elif "launch" in params and not parse_scopes(grant.request.scope).launch:
        problem = "a launch parameter needs the launch scope"
    elif parse_scopes(grant.request.scope).launch and "launch" not in params:
        problem = "the launch scope needs a launch parameter (EHR launch)"
    if problem is not None:
        refusal = InvalidRequestError(
            problem, redirect_uri=grant.redirect_uri, state=params.get("state")
        )
        return server.handle_error_response(None, refusal)  # type: ignore[no-any-return]
    patient = encounter = launched_by = None
    if "launch" in params:
        # EHR launch: the id is single-use and bound to the client that was launched.
        launch = service.store.take_launch(
            digest(params["launch"]), grant.client.client_id, time.time()
        )
        if launch is None:
            refusal = InvalidRequestError(
                "the launch id is unknown, used, expired or for another client",
                redirect_uri=grant.redirect_uri,
                state=params.get("state"),
            )
            return server.handle_error_response(None, refusal)  # type: ignore[no-any-return]
        patient, encounter, launched_by = launch.patient, launch.encounter, launch.username
    pending_id = secrets.token_urlsafe(24)
    service.store.put_pending(
        Pending(
            digest=digest(pending_id),
            params=captured.params,
            expires_at=time.time() + PENDING_LIFETIME,
            patient=patient,
            encounter=encounter,
            launched_by=launched_by,
        )
    )
    return pending_id


def _trusted_redirect(service: AuthService, params: list[tuple[str, str]]) -> str | None:
    """The redirect URI errors may go to (RFC 6749 4.1.2.1): given once, for a known client
    that registered exactly it. Otherwise errors are shown here and never redirected."""
    client_ids = [v for k, v in params if k == "client_id"]
    redirects = [v for k, v in params if k == "redirect_uri"]
    if len(client_ids) != 1 or len(redirects) != 1:
        return None
    client = service.store.get_client(client_ids[0])
    if client is None or redirects[0] not in client.redirect_uris:
        return None
    return redirects[0]


async def authorize_endpoint(request: Request) -> Response:
    service = _service(request)
    captured = await _captured(request)
    begun = await asyncio.to_thread(_begin, service, captured)
    if isinstance(begun, Response):
        return begun
    user = await asyncio.to_thread(_session_user, service, request)
    response = await _next_step(request, service, begun, user)
    response.set_cookie(
        PENDING_COOKIE,
        begun,
        max_age=PENDING_LIFETIME,
        httponly=True,
        secure=service.config.secure_cookies,
        samesite="lax",
        path="/auth",
    )
    return response


def _session_user(service: AuthService, request: Request) -> User | None:
    secret = request.cookies.get(SESSION_COOKIE)
    if not secret:
        return None
    session = service.store.get_session(digest(secret), time.time())
    if session is None:
        return None
    user = service.store.get_user(session.username)
    if user is None or user.locked or user.locked_until > time.time():
        return None
    return user


def _pending(service: AuthService, request: Request, form_pending: str) -> Pending | None:
    cookie = request.cookies.get(PENDING_COOKIE, "")
    if not form_pending or not hmac.compare_digest(cookie, form_pending):
        return None
    return service.store.get_pending(digest(form_pending), time.time())


def _client_name(service: AuthService, pending: Pending) -> str:
    client_id = dict(pending.params).get("client_id", "")
    client = service.store.get_client(client_id)
    return client.name if client is not None else client_id


async def _choices(request: Request, user: User) -> list[ActingFor]:
    if not user.dod_id:
        return []
    service = _service(request)
    grants = await asyncio.to_thread(service.store.proxy_grants, grantee_dod_id=user.dod_id)
    ctx = Context(
        store=request.app.state.store,
        access=AccessContext.internal("patient picker"),
        base_url=request.app.state.settings.base_url,
    )
    granted = [g.patient_id for g in grants]
    return await patients_for(ctx, user.dod_id, date.today(), granted)


async def _next_step(
    request: Request, service: AuthService, pending_id: str, user: User | None
) -> Response:
    """Login, then the patient picker when there is a choice, then consent."""
    pending = await asyncio.to_thread(service.store.get_pending, digest(pending_id), time.time())
    if pending is None:
        return _html(error_page("This sign-in has expired", "Start again from the app."), 400)
    name = await asyncio.to_thread(_client_name, service, pending)
    if user is not None and pending.launched_by not in (None, user.username):
        return _html(error_page("Not your launch", "This app was launched for another user."), 403)
    if user is None:
        return _html(
            login_page(
                pending=pending_id,
                client_name=name,
                action="/auth/login",
                cac_action="/auth/login/cac" if service.config.trusted_cert_header else None,
                problem=None,
            )
        )
    params = dict(pending.params)
    scopes = parse_scopes(params.get("scope"))
    patient = pending.patient
    if patient is None and scopes.launch_patient:
        choices = await _choices(request, user)
        if not choices:
            return _html(
                error_page(
                    "No patient record",
                    "Your account is not linked to a patient record this app can open.",
                ),
                403,
            )
        if len(choices) > 1:
            return _html(picker_page(pending=pending_id, choices=choices, action="/auth/pick"))
        patient = choices[0].patient_id
        await asyncio.to_thread(
            service.store.put_pending,
            Pending(**{**_fields(pending), "username": user.username, "patient": patient}),
        )
    elif pending.username != user.username:
        await asyncio.to_thread(
            service.store.put_pending,
            Pending(**{**_fields(pending), "username": user.username}),
        )
    shown = _allowed_for(user, scopes, reach=await _reach(request, user, pending, patient))
    return _html(
        consent_page(
            pending=pending_id,
            client_name=name,
            patient_name=patient and f"Patient/{patient}",
            scopes=shown,
            action="/auth/consent",
        )
    )


def _fields(pending: Pending) -> dict[str, Any]:
    return {name: getattr(pending, name) for name in Pending.__dataclass_fields__}


async def _reach(request: Request, user: User, pending: Pending, patient: str | None) -> Reach:
    """How far ``user`` reaches into ``patient``'s record: by the proxy rules for a
    standalone launch; an EHR launch's patient was chosen by the EHR (its user/ or system/
    token), and the access rules apply to what the token then reads."""
    if patient is None or "launch" in dict(pending.params):
        return Reach.FULL
    for choice in await _choices(request, user):
        if choice.patient_id == patient:
            return choice.reach
    return Reach.LIMITED


def _allowed_for(user: User, scopes: ScopeSet, *, reach: Reach) -> ScopeSet:
    """What this user can grant at all: a basic account (or a limited proxy) only Patient and
    Appointment."""
    types: tuple[str, ...] | None = None
    if user.assurance is Assurance.BASIC:
        types = BASIC_ASSURANCE_TYPES
    if reach is Reach.LIMITED:
        types = LIMITED_TYPES
    if types is None:
        return scopes
    cap = " ".join(f"{level}/{t}.cruds" for level in ("patient", "user") for t in types)
    flags = "openid fhirUser launch launch/patient offline_access online_access"
    return scopes.narrowed_to(parse_scopes(f"{cap} {flags}"))


async def login_endpoint(request: Request) -> Response:
    service = _service(request)
    form = await request.form()
    pending_id = str(form.get("pending", ""))
    pending = await asyncio.to_thread(_pending, service, request, pending_id)
    if pending is None:
        return _html(error_page("This sign-in has expired", "Start again from the app."), 400)
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    user, problem = await asyncio.to_thread(_check_password, service, username, password)
    if user is None:
        name = await asyncio.to_thread(_client_name, service, pending)
        page = login_page(
            pending=pending_id,
            client_name=name,
            action="/auth/login",
            cac_action="/auth/login/cac" if service.config.trusted_cert_header else None,
            problem=problem,
        )
        return _html(page, 401)
    log.info("login: %s signed in with a password", user.username)
    return await _signed_in(request, service, pending_id, user)


async def cac_login_endpoint(request: Request) -> Response:
    """CAC/PIV login: the trusted TLS proxy's client-certificate header names the DoD ID
    (the last field of the subject CN); the account with that DoD ID signs in."""
    service = _service(request)
    form = await request.form()
    pending_id = str(form.get("pending", ""))
    pending = await asyncio.to_thread(_pending, service, request, pending_id)
    if pending is None:
        return _html(error_page("This sign-in has expired", "Start again from the app."), 400)
    header = service.config.trusted_cert_header
    presented = request.headers.get(header) if header else None
    if not presented:
        return _html(error_page("No certificate", "No CAC/PIV certificate was presented."), 401)
    try:
        edipi = edipi_from_proxy_header(presented)
    except CertificateIdentityError as exc:
        log.info("login: unusable certificate (%s)", exc)
        return _html(error_page("Certificate not accepted", str(exc)), 401)
    user = await asyncio.to_thread(service.store.get_user_by_dod_id, edipi)
    if user is None or user.locked or user.locked_until > time.time():
        log.info("login: certificate without a usable account")
        return _html(
            error_page("Certificate not accepted", "No active account has this certificate."), 401
        )
    log.info("login: %s signed in with a certificate", user.username)
    return await _signed_in(request, service, pending_id, user)


async def _signed_in(
    request: Request, service: AuthService, pending_id: str, user: User
) -> Response:
    """Start a session for ``user`` and go on with the pending authorization."""
    secret = secrets.token_urlsafe(32)
    now = time.time()
    await asyncio.to_thread(
        service.store.put_session,
        Session(
            digest=digest(secret),
            username=user.username,
            auth_time=now,
            expires_at=now + service.config.session_lifetime,
        ),
    )
    response = await _next_step(request, service, pending_id, user)
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=service.config.session_lifetime,
        httponly=True,
        secure=service.config.secure_cookies,
        samesite="lax",
        path="/auth",
    )
    return response


def _check_password(service: AuthService, username: str, password: str) -> tuple[User | None, str]:
    wrong = "The username or password is not right."
    user = service.store.get_user(username)
    if user is None:
        verify_against_dummy(password)
        log.info("login: unknown account")
        return None, wrong
    if user.locked or user.locked_until > time.time():
        log.info("login: %s is locked", user.username)
        return None, "This account is locked. Try again later or ask for help."
    ok = verify_password(password, user.password_hash)
    service.store.record_login(
        user.username, ok=ok, lock_after=service.config.lock_after, lock_for=service.config.lock_for
    )
    if not ok:
        log.info("login: wrong password for %s", user.username)
        return None, wrong
    return user, ""


async def pick_endpoint(request: Request) -> Response:
    service = _service(request)
    form = await request.form()
    pending_id = str(form.get("pending", ""))
    pending = await asyncio.to_thread(_pending, service, request, pending_id)
    user = await asyncio.to_thread(_session_user, service, request)
    if pending is None or user is None:
        return _html(error_page("This sign-in has expired", "Start again from the app."), 400)
    chosen = str(form.get("patient", ""))
    if chosen not in {c.patient_id for c in await _choices(request, user)}:
        return _html(error_page("Not allowed", "You may not act for that patient."), 403)
    await asyncio.to_thread(
        service.store.put_pending,
        Pending(**{**_fields(pending), "username": user.username, "patient": chosen}),
    )
    return await _next_step(request, service, pending_id, user)


async def consent_endpoint(request: Request) -> Response:
    service = _service(request)
    form = await request.form()
    pending_id = str(form.get("pending", ""))
    pending = await asyncio.to_thread(_pending, service, request, pending_id)
    user = await asyncio.to_thread(_session_user, service, request)
    if pending is None or user is None or pending.username != user.username:
        return _html(error_page("This sign-in has expired", "Start again from the app."), 400)
    if pending.launched_by not in (None, user.username):
        return _html(error_page("Not your launch", "This app was launched for another user."), 403)
    kept = {str(v) for v in form.getlist("keep")}
    allow = form.get("decision") == "allow"
    reach = await _reach(request, user, pending, pending.patient)
    links = tuple(c.link() for c in await _choices(request, user))
    await asyncio.to_thread(service.store.delete_pending, pending.digest)
    return await asyncio.to_thread(_finish, service, pending, user, kept, allow, reach, links)


def _finish(
    service: AuthService,
    pending: Pending,
    user: User,
    kept: set[str],
    allow: bool,
    reach: Reach,
    links: tuple[Link, ...],
) -> Response:
    """Issue the code (or access_denied) by the redirect URI of the pending request."""
    server = service.server
    captured = CapturedRequest(
        method="GET", url=service.config.auth_url + "/authorize", headers={}, params=pending.params
    )
    try:
        grant = server.get_consent_grant(captured)
    except OAuth2Error as error:
        if error.redirect_uri:
            return server.handle_error_response(None, error)  # type: ignore[no-any-return]
        return _html(error_page("This request cannot be used", error.get_error_description()), 400)
    params = dict(pending.params)
    requested = _allowed_for(user, parse_scopes(grant.request.scope), reach=reach)
    granted = ScopeSet(
        **{
            **{n: getattr(requested, n) for n in ScopeSet.__dataclass_fields__},
            "resources": tuple(r for r in requested.resources if r.text in kept),
        }
    )
    patient, encounter = pending.patient, pending.encounter
    grant.request.scope = str(granted)
    session_grant = Grant(
        client_id=grant.client.client_id,
        scope=str(granted),
        role=role_of(user.fhir_user),
        links=links,
        username=user.username,
        patient=patient,
        encounter=encounter,
        fhir_user=user.fhir_user,
        nonce=params.get("nonce"),
        auth_time=time.time(),
        banner=not granted.launch,
    )
    if not allow:
        denied = AccessDeniedError(redirect_uri=grant.redirect_uri, state=params.get("state"))
        return server.handle_error_response(None, denied)  # type: ignore[no-any-return]
    response = server.create_authorization_response(
        request=grant.request, grant_user=session_grant, grant=grant
    )
    assert isinstance(response, Response)
    log.info("authorize: %s approved client %s", user.username, grant.client.client_id)
    return response


# password reset ------------------------------------------------------------------------------


async def reset_request_endpoint(request: Request) -> Response:
    service = _service(request)
    if request.method == "GET":
        return _html(reset_request_page(action="/auth/reset"))
    form = await request.form()
    username = str(form.get("username", ""))
    await asyncio.to_thread(
        request_reset,
        service.store,
        mail_sender(service.config.mail_url),
        username,
        reset_url=f"{service.config.auth_url}/reset/confirm",
    )
    return _html(reset_code_page(action="/auth/reset/confirm", problem=None))


async def reset_confirm_endpoint(request: Request) -> Response:
    service = _service(request)
    if request.method == "GET":
        return _html(reset_code_page(action="/auth/reset/confirm", problem=None))
    form = await request.form()
    problems = await asyncio.to_thread(
        complete_reset,
        service.store,
        str(form.get("username", "")),
        str(form.get("code", "")),
        str(form.get("password", "")),
    )
    if problems:
        page = reset_code_page(action="/auth/reset/confirm", problem=" ".join(problems))
        return _html(page, 400)
    return _html(message_page("Password changed", "Your new password is set. Go back to your app."))


def auth_routes(mount_path: str) -> list[Route]:
    """The authorization server's routes (discovery under the FHIR base, the rest at /auth)."""
    return [
        Route(f"{mount_path}/.well-known/smart-configuration", smart_configuration_endpoint),
        Route(f"{mount_path}/.well-known/openid-configuration", openid_configuration_endpoint),
        Route("/.well-known/openid-configuration", openid_configuration_endpoint),
        Route("/auth/jwks", jwks_endpoint),
        Route("/auth/authorize", authorize_endpoint, methods=["GET", "POST"]),
        Route("/auth/login", login_endpoint, methods=["POST"]),
        Route("/auth/login/cac", cac_login_endpoint, methods=["POST"]),
        Route("/auth/launch", launch_endpoint, methods=["POST"]),
        Route("/auth/smart-style.json", smart_style_endpoint),
        Route("/auth/reset", reset_request_endpoint, methods=["GET", "POST"]),
        Route("/auth/reset/confirm", reset_confirm_endpoint, methods=["GET", "POST"]),
        Route("/auth/pick", pick_endpoint, methods=["POST"]),
        Route("/auth/consent", consent_endpoint, methods=["POST"]),
        Route("/auth/token", token_endpoint, methods=["POST"]),
        Route("/auth/introspect", introspect_endpoint, methods=["POST"]),
        Route("/auth/revoke", revoke_endpoint, methods=["POST"]),
    ]
