"""The access context: who is asking, decided once per request, passed all the way down.

Every interaction takes an :class:`AccessContext` as a required argument; there is no default
and no permissive fallback. Until the SMART authorization server is configured, the only
context the server can build is :meth:`AccessContext.open_server`, and it says so in its name.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from fhir_server.errors import Forbidden


class Interaction(StrEnum):
    """The FHIR interactions the access decision distinguishes (http.html)."""

    READ = "read"
    VREAD = "vread"
    UPDATE = "update"
    PATCH = "patch"
    DELETE = "delete"
    HISTORY = "history"
    CREATE = "create"
    SEARCH = "search"
    CAPABILITIES = "capabilities"
    BATCH = "batch"
    TRANSACTION = "transaction"


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessContext:
    """What the current request may do. ``unrestricted`` is only true for an open server."""

    subject: str
    unrestricted: bool

    @classmethod
    def open_server(cls) -> AccessContext:
        """The context of a server running without authorization (development, demo)."""
        return cls(subject="anonymous (authorization not configured)", unrestricted=True)

    def require(self, interaction: Interaction, resource_type: str | None) -> None:
        """The one access decision, made for every interaction (and every bundle entry)."""
        if self.unrestricted:
            return
        raise Forbidden(
            f"{self.subject} may not {interaction.value} {resource_type or 'on this server'}"
        )
