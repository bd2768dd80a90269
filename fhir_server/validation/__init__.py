"""Resource validation on write: JSON shape per json.html, the R4B models, the codes of
required bindings, then the MHS IG profiles the resource claims (or must conform to).

``validate_resource`` is the one entry point; the rest of the server never sees the models.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

import ig
from fhir_server.errors import Issue, Unprocessable
from fhir_server.validation import bindings, models, shape
from fhir_server.validation.profiles import ProfileRegistry
from fhir_server.validation.skeleton import Key, skeleton
from ig.naming import BASE as IG_BASE

__all__ = [
    "first_class_profiles",
    "profile_registry",
    "profiles_of",
    "served_types",
    "validate_resource",
    "warm_up",
]

FIRST_CLASS_PROFILES = {
    "Patient": "MHSPatient",
    "Appointment": "MHSAppointment",
    "Communication": "MHSSecureMessage",
    "MedicationRequest": "MHSMedicationRequest",
}
"""The profile each first-class type must meet when the server requires MHS profiles."""

served_types = models.served_types


def warm_up() -> None:
    """Load every model class now, so the first write of a type does not stall the server."""
    models.load_all()
    profile_registry()


@cache
def profile_registry() -> ProfileRegistry:
    """The MHS IG's profiles and value sets (loaded once)."""
    return ProfileRegistry.from_resources(ig.conformance_resources())


def profiles_of(type: str) -> list[str]:
    """The URLs of the IG's profiles of ``type`` (the CapabilityStatement's supportedProfile)."""
    return sorted(url for url, p in profile_registry().profiles.items() if p.get("type") == type)


@cache
def first_class_profiles() -> dict[str, str]:
    """Type -> profile URL for the four first-class types (MHS_FHIR_REQUIRE_MHS_PROFILES)."""
    by_name = {str(p.get("name")): url for url, p in profile_registry().profiles.items()}
    return {t: by_name[name] for t, name in FIRST_CLASS_PROFILES.items() if name in by_name}


class _Skeletons:
    """Skeletons of resources that passed the shape check, until their values add up to
    ``MAX_SKELETON_VALUES`` (then all are forgotten). A resource with one of them passes the
    check too when its values hold (``shape.values_hold``): the walk of the whole resource
    (about 20 µs for the example Patient) is not made again."""

    def __init__(self) -> None:
        self.keys: set[Key] = set()
        self.values = 0

    def __contains__(self, key: Key) -> bool:
        return key in self.keys

    def add(self, key: Key, values: int) -> None:
        if self.values + values > models.MAX_SKELETON_VALUES:
            self.keys.clear()
            self.values = 0
        self.keys.add(key)
        self.values += values


_SHAPED = _Skeletons()


def _profile_issues(resource: Mapping[str, Any], required: str | None) -> list[Issue]:
    """Issues against every MHS profile the resource claims in ``meta.profile``, and against
    ``required`` (a profile the server is configured to require for this type). Profiles of
    other guides are not known here and not checked."""
    meta = resource.get("meta")
    claimed = meta.get("profile", []) if isinstance(meta, dict) else []
    urls = [str(u) for u in claimed if isinstance(u, str) and u.startswith(IG_BASE + "/")]
    if required is not None and required not in urls:
        urls.append(required)
    registry = profile_registry()
    issues: list[Issue] = []
    for url in urls:
        issues.extend(registry.issues(resource, url))
    return issues


def validate_resource(resource: Mapping[str, Any], *, required_profile: str | None = None) -> None:
    """Raise :class:`Unprocessable` (422) naming every bad element of ``resource``;
    ``required_profile``: a profile it must conform to whether it claims it or not."""
    found = skeleton(resource)
    if found is not None and found[0] in _SHAPED and shape.values_hold(found[1]):
        issues = models.model_issues_of(resource, found)
    else:
        issues = shape.shape_issues(resource) or models.model_issues_of(resource, found)
        if not issues and found is not None:
            _SHAPED.add(found[0], len(found[1]))
    if not issues:
        issues = bindings.binding_issues(resource)
    if not issues:
        issues = _profile_issues(resource, required_profile)
    if issues:
        first = issues[0]
        more = f" (and {len(issues) - 1} more issues)" if len(issues) > 1 else ""
        where = f" at {first.expression[0]}" if first.expression else ""
        raise Unprocessable(
            f"invalid {resource.get('resourceType', 'resource')}{where}: {first.diagnostics}{more}",
            issues=tuple(issues),
        )
