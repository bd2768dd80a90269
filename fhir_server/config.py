"""Settings: one pydantic class, every field also an ``MHS_FHIR_*`` environment variable."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///./var/mhs-fhir.db"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MHS_FHIR_", extra="ignore")

    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="sqlite:///path/to/file.db, or mongodb://host/db (docs/scaling.md)",
    )
    host: str = Field("127.0.0.1", description="interface to listen on")
    port: int = Field(8080, ge=0, le=65535, description="TCP port")
    base_url: str = Field("", description="public FHIR base URL; default http://HOST:PORT/fhir")
    workers: int = Field(1, ge=1, le=64, description="server processes")
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1024, description="largest request body")
    default_count: int = Field(50, ge=1, description="page size when _count is not given")
    max_count: int = Field(1000, ge=1, description="largest page size a client may ask for")
    max_bundle_entries: int = Field(
        1000, ge=1, description="entries in one batch or transaction Bundle"
    )
    max_search_params: int = Field(
        40, ge=1, description="parameters in one search (every _include, chain and value counts)"
    )
    max_chain_depth: int = Field(
        4, ge=1, le=8, description="links in one chain or nested _has (a.b.c is 2)"
    )
    max_included: int = Field(
        1000, ge=1, description="resources _include and _revinclude may add to one page"
    )
    request_timeout: float = Field(
        30.0,
        gt=0,
        description="seconds a client has to send a request's headers, and again its body;"
        " a slower one is cut off",
    )
    max_connections: int = Field(
        2048, ge=1, description="open connections per server process; more are answered 503"
    )
    log_level: str = Field("info", description="debug, info, warning or error")
    insecure_no_auth: bool = Field(
        False, description="serve without authorization (local development only)"
    )
    access_token_lifetime: int = Field(3600, ge=60, le=86400, description="seconds")
    refresh_token_lifetime: int = Field(90 * 86400, ge=60, description="seconds")
    code_lifetime: int = Field(60, ge=1, le=600, description="authorization code, seconds")
    session_lifetime: int = Field(8 * 3600, ge=60, description="login session, seconds")
    login_lock_after: int = Field(5, ge=1, description="failed logins before a lockout")
    login_lock_seconds: int = Field(900, ge=1, description="lockout length, seconds")
    require_mhs_profiles: bool = Field(
        False,
        description="validate every Patient, Appointment, Communication and MedicationRequest"
        " against its MHS profile, claimed or not",
    )
    webhook_url: str = Field(
        "", description="POST every domain event (booked, message sent, ...) here; empty: off"
    )
    webhook_secret: str = Field("", description="HMAC-SHA256 key that signs webhook payloads")
    mail_url: str = Field(
        "file://./var/outbox",
        description="where password reset mail goes: file://FOLDER or smtp(s)://HOST:PORT",
    )
    trusted_cert_header: str = Field(
        "",
        description="header in which a trusted TLS proxy passes the client certificate"
        " (CAC/PIV login); empty: not trusted",
    )

    @model_validator(mode="after")
    def _default_base_url(self) -> Settings:
        if not self.base_url:
            self.base_url = f"http://{self.host}:{self.port}/fhir"
        self.base_url = self.base_url.rstrip("/")
        return self

    @property
    def mount_path(self) -> str:
        """The path part of the base URL, where the FHIR API is served (``/fhir``)."""
        return urlsplit(self.base_url).path.rstrip("/")
