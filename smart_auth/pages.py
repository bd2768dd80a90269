"""The authorization server's pages: login, patient picker, consent, errors.

Server-rendered HTML, no JavaScript: labelled fields, one ``<main>``, headings in order, and
every value escaped. Each form carries the pending request's id; the browser's cookie must
match it (see :mod:`smart_auth.routes`), so a form cannot be submitted from another site.
"""

from __future__ import annotations

from html import escape

from smart_auth.patients import ActingFor
from smart_auth.proxy import Reach
from smart_auth.scopes import Permission, ResourceScope, ScopeSet

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;
line-height:1.5;color:#1b1b1b}
h1{font-size:1.5rem}label{display:block;margin-top:1rem;font-weight:600}
input[type=text],input[type=password]{width:100%;padding:.5rem;font-size:1rem}
button{margin-top:1.25rem;padding:.6rem 1.2rem;font-size:1rem;margin-right:.5rem}
.error{color:#b50909;font-weight:600}fieldset{margin-top:1rem}
"""


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{escape(title)} - MHS FHIR</title><style>{_STYLE}</style></head>"
        f"<body><main><h1>{escape(title)}</h1>{body}</main></body></html>"
    )


def _hidden(pending: str) -> str:
    return f"<input type='hidden' name='pending' value='{escape(pending)}'>"


def error_page(title: str, message: str) -> str:
    return _page(title, f"<p class='error' role='alert'>{escape(message)}</p>")


def login_page(
    *, pending: str, client_name: str, action: str, cac_action: str | None, problem: str | None
) -> str:
    alert = f"<p class='error' role='alert'>{escape(problem)}</p>" if problem else ""
    cac = (
        f"<form method='post' action='{escape(cac_action)}'>{_hidden(pending)}"
        "<button type='submit'>Sign in with CAC / PIV card</button></form>"
        if cac_action
        else ""
    )
    return _page(
        "Sign in",
        f"<p><strong>{escape(client_name)}</strong> asks to reach your health record."
        " Sign in with your DS Logon-style account.</p>"
        f"{alert}<form method='post' action='{escape(action)}'>{_hidden(pending)}"
        "<label for='username'>Username</label>"
        "<input type='text' id='username' name='username' autocomplete='username' required>"
        "<label for='password'>Password</label>"
        "<input type='password' id='password' name='password'"
        " autocomplete='current-password' required>"
        "<button type='submit'>Sign in</button></form>"
        + cac
        + "<p><a href='/auth/reset'>Forgot your password?</a></p>",
    )


def reset_request_page(*, action: str) -> str:
    return _page(
        "Reset your password",
        "<p>Give your username. If the account has an email address, a reset code is sent"
        " to it.</p>"
        f"<form method='post' action='{escape(action)}'>"
        "<label for='username'>Username</label>"
        "<input type='text' id='username' name='username' autocomplete='username' required>"
        "<button type='submit'>Send a reset code</button></form>",
    )


def reset_code_page(*, action: str, problem: str | None) -> str:
    alert = f"<p class='error' role='alert'>{escape(problem)}</p>" if problem else ""
    return _page(
        "Choose a new password",
        "<p>If the account has an email address, a reset code is on its way; it works once,"
        " for 30 minutes. Passwords need at least 15 characters with upper and lower case"
        " letters, a digit and a special character.</p>"
        f"{alert}<form method='post' action='{escape(action)}'>"
        "<label for='username'>Username</label>"
        "<input type='text' id='username' name='username' autocomplete='username' required>"
        "<label for='code'>Reset code</label>"
        "<input type='text' id='code' name='code' autocomplete='one-time-code' required>"
        "<label for='password'>New password</label>"
        "<input type='password' id='password' name='password' autocomplete='new-password'"
        " required>"
        "<button type='submit'>Set the new password</button></form>",
    )


def message_page(title: str, message: str) -> str:
    return _page(title, f"<p role='status'>{escape(message)}</p>")


def picker_page(*, pending: str, choices: list[ActingFor], action: str) -> str:
    options = "".join(
        f"<div><input type='radio' id='p{i}' name='patient' value='{escape(c.patient_id)}'"
        f"{' checked' if i == 0 else ''}><label for='p{i}' style='display:inline'>"
        f"{escape(c.name)} ({escape(c.relationship)}"
        f"{', appointments and demographics only' if c.reach is Reach.LIMITED else ''})"
        "</label></div>"
        for i, c in enumerate(choices)
    )
    return _page(
        "Choose a patient",
        f"<form method='post' action='{escape(action)}'>{_hidden(pending)}"
        f"<fieldset><legend>Whose record should the app open?</legend>{options}</fieldset>"
        "<button type='submit'>Continue</button></form>",
    )


_VERBS = {
    Permission.CREATE: "create",
    Permission.READ: "read",
    Permission.UPDATE: "change",
    Permission.DELETE: "delete",
    Permission.SEARCH: "search",
}


def describe(scope: ResourceScope) -> str:
    """One resource scope in plain words."""
    verbs = [v for p, v in _VERBS.items() if p in scope.permissions]
    what = "all kinds of records" if scope.resource_type == "*" else f"{scope.resource_type}"
    whose = {
        "patient": "for the selected patient",
        "user": "that you can see",
        "system": "on this server",
    }[scope.level]
    text = f"{', '.join(verbs)} {what} {whose}"
    if scope.filters:
        text += " (only " + ", ".join(f"{k} = {v}" for k, v in scope.filters) + ")"
    return text[0].upper() + text[1:]


def consent_page(
    *,
    pending: str,
    client_name: str,
    patient_name: str | None,
    scopes: ScopeSet,
    action: str,
) -> str:
    items = "".join(
        f"<div><input type='checkbox' id='s{i}' name='keep' value='{escape(s.text)}' checked>"
        f"<label for='s{i}' style='display:inline'>{escape(describe(s))}</label></div>"
        for i, s in enumerate(scopes.resources)
    )
    extras = []
    if scopes.openid or scopes.fhir_user:
        extras.append("Know who you are (your name and account)")
    if scopes.offline_access:
        extras.append("Keep access after you sign out, until you revoke it")
    elif scopes.online_access:
        extras.append("Keep access while you stay signed in")
    extra_list = "".join(f"<li>{escape(e)}</li>" for e in extras)
    who = f" to the record of <strong>{escape(patient_name)}</strong>" if patient_name else ""
    return _page(
        "Allow access?",
        f"<p><strong>{escape(client_name)}</strong> asks for access{who}. Untick anything you"
        " do not want to share.</p>"
        f"<form method='post' action='{escape(action)}'>{_hidden(pending)}"
        f"<fieldset><legend>The app may</legend>{items}</fieldset>"
        + (f"<ul>{extra_list}</ul>" if extra_list else "")
        + "<button type='submit' name='decision' value='allow'>Allow</button>"
        "<button type='submit' name='decision' value='deny'>Deny</button></form>",
    )
