"""Generated beneficiaries for bench/search.py: deterministic, valid FHIR R4, realistic shape.

A data set of ``N`` resources holds shared Practitioners (``N // 1000``, at least 5) and
Organizations (``N // 20000``, at least 2), then one *unit* per Patient: the Patient, 6
Appointments, 6 Communications, 3 MedicationRequests and 4 Observations (20 resources); the
last unit takes the few resources left over as extra Observations, so the total is exactly ``N``.

Everything derives from ``(seed, index)``, so worker processes build disjoint index ranges in
parallel and a rerun builds the same data. :func:`build_writes` turns resources into the
:class:`~fhir_server.storage.records.Write` records the server itself would store: the same
stamping as ``fhir_server/interactions/common.py:write_version`` (``stamped``, ``dumps``,
``indexing.extract``), without validation.
"""

from __future__ import annotations

import random
import uuid
from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from fhir_server import indexing
from fhir_server.clock import now_instant
from fhir_server.resource_json import dumps, stamped
from fhir_server.storage.records import Write

GENERATOR_VERSION = "1"
"""Changes whenever the generated data changes (it is part of the cache key)."""

DOD_ID_SYSTEM = "http://fhir.mhs-fhir.example/sid/dod-id"
NPI_SYSTEM = "http://hl7.org/fhir/sid/us-npi"
UNIT_SIZE = 20
UNIT_SHAPE = {
    "Patient": 1,
    "Appointment": 6,
    "Communication": 6,
    "MedicationRequest": 3,
    "Observation": 4,
}

# US census 2010 surnames (per 100k people), top of the list: "smi" hits ~5% of patients,
# "joh" ~4%, rarer prefixes well under 1%.
FAMILY_NAMES: tuple[tuple[str, int], ...] = (
    ("Smith", 828),
    ("Johnson", 655),
    ("Williams", 550),
    ("Brown", 487),
    ("Jones", 483),
    ("Garcia", 466),
    ("Miller", 424),
    ("Davis", 393),
    ("Rodriguez", 382),
    ("Martinez", 368),
    ("Hernandez", 360),
    ("Lopez", 301),
    ("Gonzalez", 283),
    ("Wilson", 273),
    ("Anderson", 272),
    ("Thomas", 249),
    ("Taylor", 244),
    ("Moore", 242),
    ("Jackson", 240),
    ("Martin", 235),
    ("Lee", 230),
    ("Perez", 225),
    ("Thompson", 224),
    ("White", 220),
    ("Harris", 206),
    ("Sanchez", 204),
    ("Clark", 183),
    ("Ramirez", 182),
    ("Lewis", 176),
    ("Robinson", 175),
    ("Walker", 174),
    ("Young", 160),
    ("Allen", 159),
    ("King", 153),
    ("Wright", 152),
    ("Scott", 146),
    ("Torres", 146),
    ("Nguyen", 145),
    ("Hill", 145),
    ("Flores", 144),
    ("Green", 142),
    ("Adams", 142),
    ("Nelson", 139),
    ("Baker", 138),
    ("Hall", 135),
    ("Rivera", 133),
    ("Campbell", 131),
    ("Mitchell", 130),
    ("Carter", 129),
    ("Roberts", 128),
    ("Gomez", 119),
    ("Phillips", 119),
    ("Evans", 117),
    ("Turner", 116),
    ("Diaz", 116),
    ("Parker", 114),
    ("Cruz", 113),
    ("Edwards", 113),
    ("Collins", 111),
    ("Reyes", 111),
    ("Stewart", 110),
    ("Morris", 108),
    ("Morales", 108),
    ("Murphy", 107),
    ("Cook", 106),
    ("Rogers", 105),
    ("Gutierrez", 102),
    ("Ortiz", 101),
    ("Morgan", 100),
    ("Cooper", 99),
    ("Peterson", 98),
    ("Bailey", 98),
    ("Reed", 97),
    ("Kelly", 96),
    ("Howard", 95),
    ("Ramos", 94),
    ("Kim", 94),
    ("Cox", 93),
    ("Ward", 93),
    ("Richardson", 92),
    ("Smithson", 3),
    ("Smithers", 2),
)
_FAMILY_CUMULATIVE = tuple(accumulate(w for _, w in FAMILY_NAMES))
GIVEN_NAMES: dict[str, tuple[str, ...]] = {
    "male": (
        "James",
        "Robert",
        "John",
        "Michael",
        "David",
        "William",
        "Richard",
        "Joseph",
        "Thomas",
        "Christopher",
        "Charles",
        "Daniel",
        "Matthew",
        "Anthony",
        "Mark",
        "Donald",
        "Steven",
        "Andrew",
        "Joshua",
        "Kevin",
        "Brian",
        "Jose",
        "Luis",
        "Carlos",
        "Tyler",
    ),
    "female": (
        "Mary",
        "Patricia",
        "Jennifer",
        "Linda",
        "Elizabeth",
        "Barbara",
        "Susan",
        "Jessica",
        "Sarah",
        "Karen",
        "Lisa",
        "Nancy",
        "Betty",
        "Sandra",
        "Margaret",
        "Ashley",
        "Kimberly",
        "Emily",
        "Donna",
        "Michelle",
        "Maria",
        "Ana",
        "Sophia",
        "Olivia",
        "Emma",
    ),
}
CITIES: tuple[tuple[str, str, str], ...] = (
    ("San Antonio", "TX", "78234"),
    ("Fort Liberty", "NC", "28310"),
    ("Norfolk", "VA", "23511"),
    ("San Diego", "CA", "92136"),
    ("Colorado Springs", "CO", "80913"),
    ("Tacoma", "WA", "98433"),
    ("Killeen", "TX", "76544"),
    ("Jacksonville", "FL", "32212"),
    ("Bethesda", "MD", "20889"),
    ("Honolulu", "HI", "96859"),
    ("Fayetteville", "NC", "28307"),
    ("El Paso", "TX", "79916"),
)
STREETS = ("Main St", "Oak Ave", "Liberty Rd", "Eagle Dr", "Patriot Way", "Maple Ln", "Sentry Blvd")
SERVICE_TYPES = (
    ("124", "General Practice"),
    ("57", "Immunization"),
    ("165", "Dental"),
    ("221", "Physiotherapy"),
    ("394", "Mental Health"),
    ("545", "Optometry"),
)
SPECIALTIES = (
    ("394814009", "General practice"),
    ("394583002", "Endocrinology"),
    ("394579002", "Cardiology"),
    ("722165004", "Nutrition and dietetics"),
)
MEDICATIONS = (
    ("197361", "Amlodipine 5 MG Oral Tablet"),
    ("860975", "Metformin hydrochloride 500 MG Oral Tablet"),
    ("314076", "Lisinopril 10 MG Oral Tablet"),
    ("617312", "Atorvastatin 20 MG Oral Tablet"),
    ("198211", "Simvastatin 40 MG Oral Tablet"),
    ("310798", "Hydrochlorothiazide 25 MG Oral Tablet"),
    ("197806", "Ibuprofen 600 MG Oral Tablet"),
    ("308136", "Amlodipine 2.5 MG Oral Tablet"),
    ("849574", "Naproxen sodium 550 MG Oral Tablet"),
    ("312961", "Simvastatin 20 MG Oral Tablet"),
)
VITALS = (
    ("8867-4", "Heart rate", "/min", "beats/minute", 50.0, 110.0),
    ("29463-7", "Body weight", "kg", "kg", 45.0, 130.0),
    ("8302-2", "Body height", "cm", "cm", 150.0, 200.0),
    ("8310-5", "Body temperature", "Cel", "C", 36.0, 38.5),
    ("9279-1", "Respiratory rate", "/min", "breaths/minute", 12.0, 24.0),
)
MESSAGES = (
    "Your appointment is confirmed.",
    "Please complete the pre-visit questionnaire.",
    "Your lab results are available in the portal.",
    "Reminder: prescription refill is due.",
    "Question about my medication dosage.",
    "Can I reschedule my appointment?",
)
TODAY = "2025-06-01"
"""Appointments before this day are fulfilled or cancelled, after it booked or cancelled."""


@dataclass(frozen=True, slots=True)
class Layout:
    """How a data set of ``total`` resources is made up."""

    total: int
    practitioners: int
    organizations: int
    patients: int
    extra_observations: int

    @staticmethod
    def of(total: int) -> Layout:
        practitioners = max(5, total // 1000)
        organizations = max(2, total // 20000)
        patients = max(1, (total - practitioners - organizations) // UNIT_SIZE)
        extra = total - practitioners - organizations - patients * UNIT_SIZE
        return Layout(total, practitioners, organizations, patients, max(0, extra))


@dataclass(frozen=True, slots=True)
class PatientInfo:
    """What the benchmark needs to know about a Patient to search for it."""

    id: str
    edipi: str
    family: str
    given: str
    birth_date: str


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _rng(seed: int, kind: str, index: int) -> random.Random:
    return random.Random(f"{seed}:{kind}:{index}")


def practitioner_id(seed: int, index: int) -> str:
    return _uuid(_rng(seed, "Practitioner", index))


def organization_id(seed: int, index: int) -> str:
    return _uuid(_rng(seed, "Organization", index))


def edipi_of(index: int) -> str:
    """A unique 10-digit DoD ID per patient index (a bijection of the index)."""
    return str(1_000_000_000 + (index * 2_654_435_761 + 12_345) % 8_999_999_999)


def family_name(rng: random.Random) -> str:
    pick = rng.randrange(_FAMILY_CUMULATIVE[-1])
    return FAMILY_NAMES[bisect_right(_FAMILY_CUMULATIVE, pick)][0]


def _date(rng: random.Random, first_year: int, last_year: int) -> str:
    return f"{rng.randint(first_year, last_year)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def _instant(rng: random.Random, first_year: int, last_year: int) -> str:
    day = _date(rng, first_year, last_year)
    return f"{day}T{rng.randint(7, 17):02d}:{rng.choice((0, 15, 30, 45)):02d}:00Z"


def _phone(rng: random.Random) -> str:
    return f"({rng.randint(200, 989)}) 555-{rng.randint(0, 9999):04d}"


def _address(rng: random.Random) -> dict[str, Any]:
    city, state, postal = rng.choice(CITIES)
    return {
        "use": "home",
        "type": "both",
        "line": [f"{rng.randint(1, 9999)} {rng.choice(STREETS)}"],
        "city": city,
        "state": state,
        "postalCode": postal,
        "country": "US",
    }


def practitioner(seed: int, index: int) -> dict[str, Any]:
    rng = _rng(seed, "Practitioner.body", index)
    gender = rng.choice(("male", "female"))
    return {
        "resourceType": "Practitioner",
        "identifier": [{"system": NPI_SYSTEM, "value": str(1_000_000_000 + index * 7)}],
        "active": True,
        "name": [
            {
                "use": "official",
                "family": family_name(rng),
                "given": [rng.choice(GIVEN_NAMES[gender])],
                "prefix": ["Dr."],
            }
        ],
        "telecom": [{"system": "phone", "value": _phone(rng), "use": "work"}],
        "gender": gender,
    }


def organization(seed: int, index: int) -> dict[str, Any]:
    rng = _rng(seed, "Organization.body", index)
    city = rng.choice(CITIES)[0]
    return {
        "resourceType": "Organization",
        "identifier": [
            {"system": "http://fhir.mhs-fhir.example/sid/dmis-id", "value": f"{index:04d}"}
        ],
        "active": True,
        "type": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/organization-type",
                        "code": "prov",
                        "display": "Healthcare Provider",
                    }
                ]
            }
        ],
        "name": f"{city} Military Treatment Facility {index}",
        "address": [{**_address(rng), "use": "work"}],
    }


def patient_info(seed: int, index: int) -> PatientInfo:
    rng = _rng(seed, "Patient", index)
    pid = _uuid(rng)
    gender = "male" if rng.random() < 0.52 else "female"
    family = family_name(rng)
    given = rng.choice(GIVEN_NAMES[gender])
    birth = _date(rng, 1940, 2024)
    return PatientInfo(pid, edipi_of(index), family, given, birth)


def unit(seed: int, index: int, layout: Layout) -> list[dict[str, Any]]:
    """Patient ``index`` and the resources about it; ids are set (writes use them)."""
    info = patient_info(seed, index)
    rng = _rng(seed, "Patient.unit", index)
    gender = "male" if info.given in GIVEN_NAMES["male"] else "female"
    org = organization_id(seed, rng.randrange(layout.organizations))
    own_doctor = practitioner_id(seed, rng.randrange(layout.practitioners))
    patient_ref = {"reference": f"Patient/{info.id}", "display": f"{info.given} {info.family}"}
    patient: dict[str, Any] = {
        "resourceType": "Patient",
        "id": info.id,
        "identifier": [
            {
                "use": "official",
                "type": {"text": "DoD ID"},
                "system": DOD_ID_SYSTEM,
                "value": info.edipi,
            }
        ],
        "active": True,
        "name": [
            {
                "use": "official",
                "family": info.family,
                "given": [info.given, rng.choice(GIVEN_NAMES[gender])[:1]],
            }
        ],
        "telecom": [
            {"system": "phone", "value": _phone(rng), "use": "mobile"},
            {
                "system": "email",
                "value": f"{info.given.lower()}.{info.family.lower()}{index}@example.mil",
            },
        ],
        "gender": gender,
        "birthDate": info.birth_date,
        "address": [_address(rng)],
        "generalPractitioner": [{"reference": f"Practitioner/{own_doctor}"}],
        "managingOrganization": {"reference": f"Organization/{org}"},
    }
    out = [patient]

    def doctor() -> str:
        if rng.random() < 0.5:
            return own_doctor
        return practitioner_id(seed, rng.randrange(layout.practitioners))

    for _ in range(UNIT_SHAPE["Appointment"]):
        start = _instant(rng, 2024, 2027)
        end = start[:14] + f"{int(start[14:16]) + 14:02d}" + start[16:]
        if start[:10] < TODAY:
            status = "fulfilled" if rng.random() < 0.85 else "cancelled"
        else:
            status = "booked" if rng.random() < 0.9 else "cancelled"
        code, display = rng.choice(SERVICE_TYPES)
        out.append(
            {
                "resourceType": "Appointment",
                "id": _uuid(rng),
                "status": status,
                "serviceType": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/service-type",
                                "code": code,
                                "display": display,
                            }
                        ]
                    }
                ],
                "description": display,
                "start": start,
                "end": end,
                "minutesDuration": 15,
                "participant": [
                    {"actor": patient_ref, "required": "required", "status": "accepted"},
                    {
                        "actor": {"reference": f"Practitioner/{doctor()}"},
                        "required": "required",
                        "status": "accepted",
                    },
                ],
            }
        )
    for _ in range(UNIT_SHAPE["Communication"]):
        practitioner_ref = {"reference": f"Practitioner/{doctor()}"}
        to_patient = rng.random() < 0.6
        out.append(
            {
                "resourceType": "Communication",
                "id": _uuid(rng),
                "status": "completed",
                "category": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/communication-category",
                                "code": "notification" if to_patient else "instruction",
                            }
                        ]
                    }
                ],
                "subject": {"reference": f"Patient/{info.id}"},
                "sent": _instant(rng, 2023, 2025),
                "recipient": [patient_ref if to_patient else practitioner_ref],
                "sender": practitioner_ref if to_patient else patient_ref,
                "payload": [{"contentString": rng.choice(MESSAGES)}],
            }
        )
    for _ in range(UNIT_SHAPE["MedicationRequest"]):
        code, display = rng.choice(MEDICATIONS)
        out.append(
            {
                "resourceType": "MedicationRequest",
                "id": _uuid(rng),
                "status": rng.choices(("active", "completed", "stopped"), (5, 4, 1))[0],
                "intent": "order",
                "medicationCodeableConcept": {
                    "coding": [
                        {
                            "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                            "code": code,
                            "display": display,
                        }
                    ],
                    "text": display,
                },
                "subject": {"reference": f"Patient/{info.id}"},
                "authoredOn": _date(rng, 2020, 2025),
                "requester": {"reference": f"Practitioner/{doctor()}"},
                "dosageInstruction": [{"text": "Take one tablet by mouth daily"}],
            }
        )
    observations = UNIT_SHAPE["Observation"]
    if index == layout.patients - 1:
        observations += layout.extra_observations
    for _ in range(observations):
        out.append(observation(rng, info.id))
    return out


def observation(rng: random.Random, patient_id: str) -> dict[str, Any]:
    code, display, unit_code, unit, low, high = rng.choice(VITALS)
    return {
        "resourceType": "Observation",
        "id": _uuid(rng),
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "vital-signs",
                        "display": "Vital Signs",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": display}]},
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": _instant(rng, 2020, 2025),
        "valueQuantity": {
            "value": round(rng.uniform(low, high), 1),
            "unit": unit,
            "system": "http://unitsofmeasure.org",
            "code": unit_code,
        },
    }


def shared(seed: int, layout: Layout) -> list[dict[str, Any]]:
    """The Organizations and Practitioners every unit refers to (ids set)."""
    out = []
    for i in range(layout.organizations):
        out.append({**organization(seed, i), "id": organization_id(seed, i)})
    for i in range(layout.practitioners):
        body = practitioner(seed, i)
        out.append({**body, "id": practitioner_id(seed, i)})
    return out


def as_write(resource: dict[str, Any], *, base_url: str) -> Write:
    """The write ``write_version`` would make for a create of ``resource`` (no validation)."""
    body = {k: v for k, v in resource.items() if k != "id"}
    last_updated = now_instant()
    document = stamped(body, id=resource["id"], version=1, last_updated=last_updated)
    return Write(
        type=resource["resourceType"],
        id=resource["id"],
        version=1,
        expected_version=None,
        last_updated=last_updated,
        method="POST",
        body=dumps(document),
        index=indexing.extract(document, base_url=base_url),
    )


def build_writes(
    seed: int, layout: Layout, first: int, last: int, base_url: str, with_shared: bool
) -> list[Write]:
    """Writes for the units ``first`` .. ``last - 1`` (and the shared resources first)."""
    resources = shared(seed, layout) if with_shared else []
    for index in range(first, last):
        resources.extend(unit(seed, index, layout))
    return [as_write(r, base_url=base_url) for r in resources]
