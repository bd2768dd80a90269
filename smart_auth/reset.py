"""Password reset by emailed code (DS Logon-style accounts).

The mail carries a one-time code, not a link with a secret in it, so the secret never lands
in a URL, a proxy log or a browser history. A code is single-use, lives 30 minutes, only works
with its account's username, and the answer to a reset request never tells whether the
account exists. A new password must meet the policy; setting it clears a lockout (not an
administrator's lock) and ends every token the account held.
"""

from __future__ import annotations

import base64
import logging
import secrets
import time

from smart_auth.mail import MailSender
from smart_auth.passwords import hash_password, password_problems
from smart_auth.records import AuthStore, PasswordReset, User, digest

log = logging.getLogger(__name__)

RESET_LIFETIME = 30 * 60


def _new_code() -> str:
    raw = base64.b32encode(secrets.token_bytes(10)).decode().rstrip("=")
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


def _normalized(code: str) -> str:
    return code.replace("-", "").replace(" ", "").upper()


def request_reset(store: AuthStore, mail: MailSender, username: str, *, reset_url: str) -> None:
    """Mail a reset code to the account's address, if there is such an account and address."""
    user = store.get_user(username)
    if user is None or not user.email:
        log.info("password reset: no account with an email address for the request")
        return
    code = _new_code()
    store.put_reset(
        PasswordReset(
            digest=digest(_normalized(code)),
            username=user.username,
            expires_at=time.time() + RESET_LIFETIME,
        )
    )
    mail.send(
        user.email,
        "Your MHS password reset code",
        f"Hello {user.name},\n\nSomeone (we hope you) asked to reset the password of the"
        f" account {user.username}.\n\nReset code: {code}\n\nEnter it at {reset_url} within"
        " 30 minutes. If you did not ask for this, ignore this message: your password stays"
        " as it is.\n",
    )
    log.info("password reset: code mailed for %s", user.username)


def complete_reset(store: AuthStore, username: str, code: str, password: str) -> list[str]:
    """Set the new password; the problems (empty when it worked)."""
    problems = password_problems(password, username=username)
    if problems:
        return problems
    reset = store.take_reset(digest(_normalized(code)), time.time())
    if reset is None or reset.username != username:
        return ["The reset code is not right, was used already, or has expired."]
    user = store.get_user(username)
    if user is None:
        return ["The reset code is not right, was used already, or has expired."]
    fields = {n: getattr(user, n) for n in User.__dataclass_fields__}
    fields.update(password_hash=hash_password(password), failed_logins=0, locked_until=0.0)
    store.put_user(User(**fields))
    store.revoke_user(username)
    log.info("password reset: %s set a new password", username)
    return []
