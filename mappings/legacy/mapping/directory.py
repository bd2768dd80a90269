"""The directory resources the legacy records point at, found (or created the first time) by
identifier: Organization (an MTF by DMIS id, an MTF pharmacy), Location (an MTF clinic),
HealthcareService (a clinic's secure-message pool), Schedule (a clinic's), Practitioner (by
NPI or CHCS provider number).

Each is an :class:`Entry`: what to create when nothing is stored under its identifier, and the
entries it points at. An import never changes one that is stored: a directory is kept by its
owners, and two sources naming a clinic slightly differently must not take turns rewriting it.
Links between entries and from records are conditional references (``Type?identifier=...``)
that the loader turns into ``Type/id`` or into the entry it creates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mappings.legacy.codes import CLINIC, DMIS_ID, MESSAGE_POOL, PHARMACY, SCHEDULE
from mappings.legacy.records import Clinic, Pharmacy, Provider

ORGANIZATION_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"


@dataclass(frozen=True, slots=True)
class Entry:
    type: str
    criteria: str
    resource: dict[str, Any]
    depends: tuple[Entry, ...] = ()

    @property
    def reference(self) -> str:
        return f"{self.type}?{self.criteria}"

    def ref(self, display: str | None = None) -> dict[str, str]:
        out = {"reference": self.reference}
        if display:
            out["display"] = display
        return out


def criteria(system: str, value: str) -> str:
    return f"identifier={system}|{value}"


def mtf(dmis_id: str) -> Entry:
    """An MTF, as the eligibility import's enrollment site (the same resource, so either
    import may create it and the other finds it unchanged)."""
    return Entry(
        "Organization",
        criteria(DMIS_ID, dmis_id),
        {
            "resourceType": "Organization",
            "identifier": [{"system": DMIS_ID, "value": dmis_id}],
            "active": True,
            "type": [
                {
                    "coding": [
                        {
                            "system": ORGANIZATION_TYPE,
                            "code": "prov",
                            "display": "Healthcare Provider",
                        }
                    ]
                }
            ],
            "name": f"Military treatment facility DMIS {dmis_id}",
        },
    )


def clinic_name(clinic: Clinic) -> str:
    return clinic.name or f"Clinic {clinic.code} (DMIS {clinic.dmis_id})"


def location(clinic: Clinic) -> Entry | None:
    """An MTF clinic's Location (None for a place known only by name)."""
    if clinic.key is None or clinic.dmis_id is None:
        return None
    owner = mtf(clinic.dmis_id)
    return Entry(
        "Location",
        criteria(CLINIC, clinic.key),
        {
            "resourceType": "Location",
            "identifier": [{"system": CLINIC, "value": clinic.key}],
            "status": "active",
            "name": clinic_name(clinic),
            "mode": "instance",
            "managingOrganization": owner.ref(),
        },
        (owner,),
    )


def message_pool(clinic: Clinic) -> Entry | None:
    """A clinic as a secure-message party: its HealthcareService."""
    place = location(clinic)
    if place is None or clinic.key is None or clinic.dmis_id is None:
        return None
    owner = mtf(clinic.dmis_id)
    return Entry(
        "HealthcareService",
        criteria(MESSAGE_POOL, clinic.key),
        {
            "resourceType": "HealthcareService",
            "identifier": [{"system": MESSAGE_POOL, "value": clinic.key}],
            "active": True,
            "providedBy": owner.ref(),
            "location": [place.ref()],
            "name": clinic_name(clinic),
        },
        (owner, place),
    )


def schedule(clinic: Clinic) -> Entry | None:
    place = location(clinic)
    if place is None or clinic.key is None:
        return None
    return Entry(
        "Schedule",
        criteria(SCHEDULE, clinic.key),
        {
            "resourceType": "Schedule",
            "identifier": [{"system": SCHEDULE, "value": clinic.key}],
            "active": True,
            "actor": [place.ref()],
            "comment": f"Appointments of {clinic_name(clinic)}",
        },
        (place,),
    )


def practitioner(provider: Provider) -> Entry | None:
    if provider.system is None or provider.value is None:
        return None
    resource: dict[str, Any] = {
        "resourceType": "Practitioner",
        "identifier": [{"system": provider.system, "value": provider.value}],
        "active": True,
    }
    if provider.family or provider.given:
        name: dict[str, Any] = {}
        if provider.family:
            name["family"] = provider.family
        if provider.given:
            name["given"] = list(provider.given)
        resource["name"] = [name]
    return Entry("Practitioner", criteria(provider.system, provider.value), resource)


def pharmacy(place: Pharmacy) -> Entry:
    owner = mtf(place.dmis_id)
    return Entry(
        "Organization",
        criteria(PHARMACY, place.key),
        {
            "resourceType": "Organization",
            "identifier": [{"system": PHARMACY, "value": place.key}],
            "active": True,
            "type": [
                {
                    "coding": [
                        {
                            "system": ORGANIZATION_TYPE,
                            "code": "prov",
                            "display": "Healthcare Provider",
                        }
                    ],
                    "text": "pharmacy",
                }
            ],
            "name": place.name or f"Pharmacy {place.code} (DMIS {place.dmis_id})",
            "partOf": owner.ref(),
        },
        (owner,),
    )


def provider_reference(provider: Provider) -> tuple[dict[str, str], Entry | None]:
    """A reference to a provider (conditional when identified, else the name alone) and the
    entry to find or create."""
    entry = practitioner(provider)
    display = provider.name or None
    if entry is None:
        return {"display": display or "unknown provider"}, None
    return entry.ref(display), entry


def clinic_reference(clinic: Clinic) -> tuple[dict[str, str], Entry | None]:
    entry = location(clinic)
    display = clinic_name(clinic) if entry is not None else (clinic.name or "unknown place")
    if entry is None:
        return {"display": display}, None
    return entry.ref(display), entry
