"""The authorization server's settings, derived from the one :class:`Settings` of the server."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from fhir_server.config import Settings


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthConfig:
    base_url: str  # the FHIR base URL: the only acceptable ``aud``, and the token issuer
    auth_url: str  # where the authorization server's endpoints live (``{origin}/auth``)
    access_token_lifetime: int
    refresh_token_lifetime: int
    backend_token_lifetime: int
    code_lifetime: int
    session_lifetime: int
    lock_after: int
    lock_for: int
    trusted_cert_header: str
    mail_url: str

    @property
    def issuer(self) -> str:
        return self.base_url

    @property
    def token_url(self) -> str:
        return f"{self.auth_url}/token"

    @property
    def style_url(self) -> str:
        return f"{self.auth_url}/smart-style.json"

    @property
    def secure_cookies(self) -> bool:
        return self.base_url.startswith("https:")

    @classmethod
    def from_settings(cls, settings: Settings) -> AuthConfig:
        parts = urlsplit(settings.base_url)
        return cls(
            base_url=settings.base_url,
            auth_url=f"{parts.scheme}://{parts.netloc}/auth",
            access_token_lifetime=settings.access_token_lifetime,
            refresh_token_lifetime=settings.refresh_token_lifetime,
            backend_token_lifetime=min(settings.access_token_lifetime, 300),
            code_lifetime=settings.code_lifetime,
            session_lifetime=settings.session_lifetime,
            lock_after=settings.login_lock_after,
            lock_for=settings.login_lock_seconds,
            trusted_cert_header=settings.trusted_cert_header.lower(),
            mail_url=settings.mail_url,
        )
