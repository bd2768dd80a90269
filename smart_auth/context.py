"""The access context: who is asking, decided once per request, passed all the way down.

Every interaction takes an :class:`AccessContext` as a required argument; there is no default
and no permissive fallback. The guard (:mod:`smart_auth.guard`) builds one from a bearer
token's scopes; :meth:`AccessContext.open_server` exists only for a server started with
``--insecure-no-auth`` and for the server's own work (imports, the authorization server's
lookups), and says so in its subject.
"""

from __future__ import annotations

from dataclasses import field
from datetime import date
from enum import StrEnum

from fhir_server.errors import Forbidden, InvalidSearch
from fhir_server.fixed import fixed
from fhir_server.search.parse import criteria_condition, in_patient_compartments
from fhir_server.search.plan import AllOf, AnyOf, Condition, IdIn
from smart_auth.proxy import SENSITIVE, Link, Reach
from smart_auth.records import Role
from smart_auth.scopes import Permission, ScopeSet, parse_scopes

NOTHING: Condition = IdIn(())
"""The restriction no resource meets."""

# Types outside every Patient compartment that are shared reference data (who and where care
# is given, what medications are, the server's own definitions): a patient's or proxy's token
# may read and search them. Every other type outside the compartments (Task, Device, Binary,
# Bundle, ...) may hold one patient's data without saying so: such tokens never reach it.
SHARED_REFERENCE_TYPES = frozenset(
    {
        "Practitioner",
        "PractitionerRole",
        "Organization",
        "OrganizationAffiliation",
        "Location",
        "HealthcareService",
        "Endpoint",
        "Schedule",
        "Slot",
        "Medication",
        "MedicationKnowledge",
        "Substance",
        "ActivityDefinition",
        "PlanDefinition",
        "Questionnaire",
        "Library",
        "ValueSet",
        "CodeSystem",
        "ConceptMap",
        "NamingSystem",
        "StructureDefinition",
        "SearchParameter",
        "OperationDefinition",
        "CapabilityStatement",
        "ImplementationGuide",
    }
)


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


@fixed  # every request with a token makes one
class AccessContext:
    """What the current request may do. ``unrestricted`` only for an open server or the
    server's own work."""

    subject: str
    unrestricted: bool
    scopes: ScopeSet = field(default_factory=lambda: parse_scopes(""))
    client_id: str | None = None
    username: str | None = None  # the signed-in account, for user tokens
    patient: str | None = None
    fhir_user: str | None = None
    role: Role = Role.SYSTEM
    links: tuple[Link, ...] = ()
    binding: str | None = None  # what paging links are bound to (the token's digest)
    own_work: bool = False  # the server's own work (imports, lookups), not an API caller
    today: date = field(default_factory=date.today)
    _restrictions: dict[tuple[Permission, str], Condition | None] = field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def open_server(cls) -> AccessContext:
        """The context of a server running without authorization (development, demo): one
        for the whole process (unrestricted, it has no links whose reach a day could change,
        and no restrictions to remember)."""
        return _OPEN_SERVER

    @classmethod
    def anyone(cls) -> AccessContext:
        """A caller without credentials: only what is public (the CapabilityStatement)."""
        return cls(subject="anyone (no token)", unrestricted=False)

    @classmethod
    def internal(cls, purpose: str) -> AccessContext:
        """The server's own work on its data (an import, a login's patient lookup)."""
        return cls(subject=f"mhs-fhir ({purpose})", unrestricted=True, own_work=True)

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

    def permission_for(self, interaction: Interaction) -> Permission | None:
        return _PERMISSION[interaction]

    # -- what a permission reaches, as a search condition ---------------------------------

    def restriction(self, permission: Permission, type: str, *, base_url: str) -> Condition | None:
        """The condition every ``type`` resource this context may ``permission`` meets; None
        when it reaches them all, :data:`NOTHING` when none. Search adds it to the plan, and
        reads, history, includes and writes match single resources against it, so one rule
        decides every door."""
        if self.unrestricted:
            return None
        key = (permission, type)
        if key not in self._restrictions:
            self._restrictions[key] = self._restriction(permission, type, base_url)
        return self._restrictions[key]

    def _restriction(self, permission: Permission, type: str, base_url: str) -> Condition | None:
        alternatives: list[Condition] = []
        for scope in self.scopes.resources:
            if not scope.grants(scope.level, permission, type):
                continue
            patients = self._patients(scope.level, type)
            if patients is not None and not patients:
                continue
            parts: list[Condition] = []
            if patients is not None:
                compartment = self._compartments(type, patients, base_url)
                if compartment is not None:
                    parts.append(compartment)
                elif not _free_outside_compartments(permission, type):
                    continue
            if scope.filters:
                try:
                    parts.append(criteria_condition(type, scope.filters, base_url=base_url))
                except InvalidSearch:
                    continue  # a filter this server cannot apply grants nothing
            if not parts:
                return None
            alternatives.append(parts[0] if len(parts) == 1 else AllOf(tuple(parts)))
        if not alternatives:
            return NOTHING
        return alternatives[0] if len(alternatives) == 1 else AnyOf(tuple(alternatives))

    def _patients(self, level: str, type: str) -> tuple[str, ...] | None:
        """Whose compartments a scope of ``level`` reaches for ``type`` (None: no compartment
        bound; empty: nobody's)."""
        if level == "system":
            return None if self.role is Role.SYSTEM else ()
        if level == "user":
            if self.role is Role.CLINICIAN:
                return None
            if self.role is Role.BENEFICIARY:
                return self._reached(type)
            return ()
        # patient/ scopes: the patient in context, if this holder still reaches them.
        if self.patient is None:
            return ()
        if self.role is Role.BENEFICIARY:
            return (self.patient,) if self.patient in self._reached(type) else ()
        return (self.patient,)

    def patients_reached(self, permission: Permission, type: str) -> frozenset[str] | None:
        """Every patient whose compartment ``permission`` on ``type`` reaches through some
        scope; None when some scope is bound by no compartment at all."""
        if self.unrestricted:
            return None
        out: set[str] = set()
        for scope in self.scopes.resources:
            if not scope.grants(scope.level, permission, type):
                continue
            patients = self._patients(scope.level, type)
            if patients is None:
                return None
            out.update(patients)
        return frozenset(out)

    @property
    def is_beneficiary(self) -> bool:
        """A beneficiary's (or proxy's) token, as opposed to staff, systems or the server."""
        return not self.unrestricted and self.role is Role.BENEFICIARY

    def _compartments(
        self, type: str, patients: tuple[str, ...], base_url: str
    ) -> Condition | None:
        """Membership in these patients' compartments; for those a proxy reaches only in part
        (dependents 13 and over), not what carries a sensitive security label."""
        limited = self._limited()
        full = tuple(p for p in patients if p not in limited)
        partly = tuple(p for p in patients if p in limited)
        if not partly:
            return in_patient_compartments(type, full)
        unlabelled = criteria_condition(type, [("_security:not", SENSITIVE)], base_url=base_url)
        hidden = in_patient_compartments(type, partly)
        if hidden is None:
            return None
        guarded = AllOf((hidden, unlabelled))
        if not full:
            return guarded
        open_part = in_patient_compartments(type, full)
        assert open_part is not None
        return AnyOf((open_part, guarded))

    def _limited(self) -> frozenset[str]:
        return frozenset(
            link.patient_id for link in self.links if link.reach_on(self.today) is Reach.LIMITED
        )

    def _reached(self, type: str) -> tuple[str, ...]:
        out = []
        for link in self.links:
            reach = link.reach_on(self.today)
            if reach is not None and reach.allows(type):
                out.append(link.patient_id)
        return tuple(out)


def _free_outside_compartments(permission: Permission, type: str) -> bool:
    """Shared reference data in no Patient compartment: readable with a patient's scopes,
    never writable (see SHARED_REFERENCE_TYPES)."""
    return permission in (Permission.READ, Permission.SEARCH) and type in SHARED_REFERENCE_TYPES


_LEVELS = ("patient", "user", "system")
_OPEN_SERVER = AccessContext(subject="anonymous (authorization not configured)", unrestricted=True)
