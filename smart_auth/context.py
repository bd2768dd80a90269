"""The access context: who is asking, decided once per request, passed all the way down.

Every interaction takes an :class:`AccessContext` as a required argument; there is no default
and no permissive fallback. The guard (:mod:`smart_auth.guard`) builds one from a bearer
token's scopes; :meth:`AccessContext.open_server` exists only for a server started with
``--insecure-no-auth`` and for the server's own work (imports, the authorization server's
lookups), and says so in its subject.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from fhir_server.errors import Forbidden
from smart_auth.scopes import Permission, ScopeSet, parse_scopes


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


# SMART v2 permission letters per interaction (scopes-and-launch-context.html#scopes-for-
# requesting-fhir-resources): history and vread are reads, search is "s".
_PERMISSION: dict[Interaction, Permission | None] = {
    Interaction.READ: Permission.READ,
    Interaction.VREAD: Permission.READ,
    Interaction.HISTORY: Permission.READ,
    Interaction.UPDATE: Permission.UPDATE,
    Interaction.PATCH: Permission.UPDATE,
    Interaction.DELETE: Permission.DELETE,
    Interaction.CREATE: Permission.CREATE,
    Interaction.SEARCH: Permission.SEARCH,
    Interaction.CAPABILITIES: None,  # public
    Interaction.BATCH: None,  # each entry is decided on its own
    Interaction.TRANSACTION: None,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessContext:
    """What the current request may do. ``unrestricted`` only for an open server or the
    server's own work."""

    subject: str
    unrestricted: bool
    scopes: ScopeSet = field(default_factory=lambda: parse_scopes(""))
    client_id: str | None = None
    patient: str | None = None
    fhir_user: str | None = None

    @classmethod
    def open_server(cls) -> AccessContext:
        """The context of a server running without authorization (development, demo)."""
        return cls(subject="anonymous (authorization not configured)", unrestricted=True)

    @classmethod
    def anyone(cls) -> AccessContext:
        """A caller without credentials: only what is public (the CapabilityStatement)."""
        return cls(subject="anyone (no token)", unrestricted=False)

    @classmethod
    def internal(cls, purpose: str) -> AccessContext:
        """The server's own work on its data (an import, a login's patient lookup)."""
        return cls(subject=f"mhs-fhir ({purpose})", unrestricted=True)

    def require(self, interaction: Interaction, resource_type: str | None) -> None:
        """The one access decision, made for every interaction (and every bundle entry)."""
        if self.unrestricted:
            return
        permission = _PERMISSION[interaction]
        if permission is None:
            return
        type = resource_type or "*"
        if any(self.scopes.allows(level, permission, type) for level in _LEVELS):
            return
        raise Forbidden(
            f"the token's scopes do not allow {interaction.value} on"
            f" {resource_type or 'every resource type'}"
        )


_LEVELS = ("patient", "user", "system")
