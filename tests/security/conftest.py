"""A world to attack: a real server (tokens required) holding the demo family, a second
unrelated family and a few resources made to cross the lines, plus real bearer tokens for the
attackers of the catalogue and an independent oracle of what each of them may see.

The oracle (:class:`Audience`) is written from the policy, not from the server's code: a
resource is someone's when one of the fields that put it in a Patient compartment (hard-coded
below for the few types loaded here) refers to that Patient; Practitioner and Organization are
shared reference data; every other type (Binary, Task, Device, Bundle, ...) holds a patient's
data outside any compartment and no patient or proxy token reaches it.

Each test module gets its own server and database (module-scoped fixtures), so the catalogue's
writes never disturb the search property.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from fhir_server.config import Settings
from fhir_server.demo import demo_bundle
from fhir_server.testing import running_server
from smart_auth.proxy import Link
from smart_auth.records import Role
from smart_auth.testing import issue_token

FHIR_JSON = "application/fhir+json"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
LOINC = "http://loinc.org"
DOD_ID = "http://fhir.mhs-fhir.example/sid/dod-id"
LAB_FILTER = f"category={CATEGORY}|laboratory"

FAMILY = (
    Link("demo-sponsor", "self"),
    Link("demo-child", "dependent", "2016-02-14"),
    Link("demo-teen", "dependent", "2012-06-03"),  # 13-17: Patient and Appointment only
    Link("demo-spouse", "dependent", "1990-09-30"),  # an adult: nothing
)
OTHER_FAMILY = (Link("other-mom", "self"), Link("other-kid", "dependent", "2019-05-01"))

Resource = dict[str, Any]


# -- the data -------------------------------------------------------------------------------------


def ref(target: str) -> dict[str, str]:
    return {"reference": target}


def observation(
    id: str | None,
    subject: str,
    *,
    category: str = "laboratory",
    code: str = "2345-7",
    performer: Sequence[str] = ("Practitioner/demo-pcm",),
    date: str = "2026-10-01T09:00:00Z",
    identifier: str | None = None,
) -> Resource:
    """An Observation of ``subject`` (``Patient/x``) in one category."""
    resource: Resource = {
        "resourceType": "Observation",
        "status": "final",
        "category": [{"coding": [{"system": CATEGORY, "code": category}]}],
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": ref(subject),
        "effectiveDateTime": date,
        "performer": [ref(p) for p in performer],
        "valueString": f"{code} of {subject}",
    }
    if id is not None:
        resource["id"] = id
    if identifier is not None:
        resource["identifier"] = [{"system": "urn:test:security", "value": identifier}]
    return resource


def patient_resource(id: str, family: str, given: str, born: str, dod_id: str) -> Resource:
    return {
        "resourceType": "Patient",
        "id": id,
        "identifier": [{"system": DOD_ID, "value": dod_id}],
        "name": [{"family": family, "given": [given]}],
        "birthDate": born,
    }


def medication_request(id: str, subject: str) -> Resource:
    return {
        "resourceType": "MedicationRequest",
        "id": id,
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {"text": f"medicine of {subject}"},
        "subject": ref(subject),
        "requester": ref("Practitioner/demo-pcm"),
    }


def appointment(id: str, patient_ref: str, start: str) -> Resource:
    return {
        "resourceType": "Appointment",
        "id": id,
        "status": "booked",
        "start": start,
        "end": start.replace(":00:00Z", ":30:00Z"),
        "participant": [
            {"actor": ref(patient_ref), "status": "accepted"},
            {"actor": ref("Practitioner/demo-pcm"), "status": "accepted"},
        ],
    }


def binary(id: str, owner: str) -> Resource:
    return {
        "resourceType": "Binary",
        "id": id,
        "contentType": "text/plain",
        "securityContext": ref(owner),
        "data": base64.b64encode(f"private note of {owner}".encode()).decode(),
    }


MOVED_V1 = observation("moved-obs", "Patient/demo-child", code="4548-4")
MOVED_V2 = observation("moved-obs", "Patient/other-kid", code="4548-4")

EXTRA: tuple[Resource, ...] = (
    patient_resource("other-mom", "Nakamura", "Aiko", "1985-03-03", "9990000001"),
    patient_resource("other-kid", "Nakamura", "Ren", "2019-05-01", "9990000002"),
    patient_resource("twin-7", "Nakamura", "Kai", "2019-05-01", "9990000003"),
    {
        "resourceType": "Group",
        "id": "twin-7",  # the same id as Patient/twin-7: a bare `subject=twin-7` is ambiguous
        "type": "person",
        "actual": True,
        "member": [{"entity": ref("Patient/other-kid")}],
    },
    {
        "resourceType": "RelatedPerson",
        "id": "other-mom-of-kid",
        "active": True,
        "patient": ref("Patient/other-kid"),
        "identifier": [{"system": DOD_ID, "value": "9990000001"}],
    },
    observation("child-lab", "Patient/demo-child", identifier="acc-child-lab"),
    observation("child-vitals", "Patient/demo-child", category="vital-signs", code="8867-4"),
    observation("teen-lab", "Patient/demo-teen"),
    observation("other-lab", "Patient/other-kid", identifier="acc-other-lab"),
    observation("other-vitals", "Patient/other-mom", category="vital-signs", code="8867-4"),
    MOVED_V1,
    medication_request("teen-rx", "Patient/demo-teen"),
    medication_request("other-rx", "Patient/other-kid"),
    appointment("teen-appt", "Patient/demo-teen", "2026-12-12T10:00:00Z"),
    appointment("other-appt", "Patient/other-mom", "2026-12-14T10:00:00Z"),
    {
        # One resource in two families' compartments: the child receives it, it is about
        # other-kid and sent by other-mom.
        "resourceType": "Communication",
        "id": "shared-msg",
        "status": "completed",
        "subject": ref("Patient/other-kid"),
        "sender": ref("Patient/other-mom"),
        "recipient": [ref("Patient/demo-child")],
        "payload": [{"contentString": "Party on Saturday?"}],
    },
    {
        "resourceType": "Communication",
        "id": "other-msg",
        "status": "completed",
        "subject": ref("Patient/other-mom"),
        "sender": ref("Patient/other-mom"),
        "recipient": [ref("Practitioner/demo-pcm")],
        "payload": [{"contentString": "About my biopsy results"}],
    },
    binary("child-binary", "Patient/demo-child"),
    binary("other-binary", "Patient/other-mom"),
    # A patient's data in types outside every Patient compartment.
    {
        "resourceType": "Task",
        "id": "other-task",
        "status": "requested",
        "intent": "order",
        "for": ref("Patient/other-mom"),
        "description": "Schedule oncology follow-up for Aiko Nakamura",
    },
    {
        "resourceType": "Device",
        "id": "other-device",
        "patient": ref("Patient/other-mom"),
        "deviceName": [{"name": "Insulin pump of Aiko Nakamura", "type": "user-friendly-name"}],
    },
    {
        "resourceType": "Bundle",
        "id": "other-doc",
        "type": "collection",
        "entry": [
            {
                "fullUrl": "urn:uuid:6f0b1b8e-0000-4000-8000-000000000001",
                "resource": observation(None, "Patient/other-mom", code="2160-0"),
            }
        ],
    },
)

PRIVATE_OUTSIDE_COMPARTMENTS = ("Task/other-task", "Device/other-device", "Bundle/other-doc")


def seeded_resources() -> dict[str, Resource]:
    """Every resource the world holds after seeding, by ``Type/id`` (current versions)."""
    out: dict[str, Resource] = {}
    for entry in demo_bundle()["entry"]:
        resource = entry["resource"]
        out[f"{resource['resourceType']}/{resource['id']}"] = resource
    for resource in EXTRA:
        out[f"{resource['resourceType']}/{resource['id']}"] = resource
    out["Observation/moved-obs"] = MOVED_V2
    return out


# -- the oracle -----------------------------------------------------------------------------------

# The fields that put a resource of these types in a Patient's compartment (R4
# CompartmentDefinition "patient", restated by hand for the types loaded here).
COMPARTMENT_FIELDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "Observation": (("subject",), ("performer",)),
    "Appointment": (("participant", "actor"),),
    "MedicationRequest": (("subject",),),
    "Communication": (("subject",), ("sender",), ("recipient",)),
    "RelatedPerson": (("patient",),),
    "Group": (("member", "entity"),),
    "Patient": (("link", "other"),),
    "CareTeam": (("subject",), ("participant", "member")),
}
# Shared reference data (who and where care is given, open slots): readable by every token.
SHARED_TYPES = frozenset(
    {
        "Practitioner",
        "PractitionerRole",
        "Organization",
        "Location",
        "HealthcareService",
        "Schedule",
        "Slot",
        "Medication",
    }
)
_PATIENT_REF = re.compile(r"^(?:.*/)?Patient/([A-Za-z0-9.-]+)(?:/_history/.*)?$")


def _walk(value: Any, path: Sequence[str]) -> Iterator[Any]:
    if isinstance(value, list):
        for item in value:
            yield from _walk(item, path)
        return
    if not path:
        yield value
        return
    if isinstance(value, dict) and path[0] in value:
        yield from _walk(value[path[0]], path[1:])


def patients_of(resource: Mapping[str, Any]) -> frozenset[str]:
    """The Patients whose compartment holds ``resource`` (by this file's own reading)."""
    type = resource.get("resourceType", "")
    found: set[str] = set()
    if type == "Patient" and "id" in resource:
        found.add(str(resource["id"]))
    for path in COMPARTMENT_FIELDS.get(type, ()):
        for node in _walk(resource, path):
            reference = node.get("reference") if isinstance(node, dict) else None
            match = _PATIENT_REF.match(reference) if isinstance(reference, str) else None
            if match:
                found.add(match.group(1))
    return frozenset(found)


def is_lab(resource: Mapping[str, Any]) -> bool:
    return any(
        coding.get("system") == CATEGORY and coding.get("code") == "laboratory"
        for concept in resource.get("category", [])
        for coding in concept.get("coding", [])
    )


@dataclass(frozen=True)
class Audience:
    """What one token may see, stated from the policy."""

    reach: Callable[[str], frozenset[str]]  # resource type -> Patients reached for it
    types: frozenset[str] | None = None  # the scope's types (None: every type)
    only: Callable[[Mapping[str, Any]], bool] = field(default=lambda _: True)

    def may_see(self, resource: Mapping[str, Any]) -> bool:
        type = str(resource.get("resourceType", ""))
        if self.types is not None and type not in self.types:
            return False
        if not self.only(resource):
            return False
        if type in SHARED_TYPES:
            return True
        if type not in COMPARTMENT_FIELDS:
            return False  # a patient's data outside every compartment
        return bool(patients_of(resource) & self.reach(type))


def _fixed(*patients: str) -> Callable[[str], frozenset[str]]:
    reached = frozenset(patients)
    return lambda _type: reached


def _sponsor_reach(type: str) -> frozenset[str]:
    limited = {"demo-teen"} if type in ("Patient", "Appointment") else set()
    return frozenset({"demo-sponsor", "demo-child", *limited})


AUDIENCES: dict[str, Audience] = {
    "patient": Audience(_fixed("demo-child")),
    "proxy": Audience(_sponsor_reach),
    "granular": Audience(_fixed("demo-child"), frozenset({"Observation"}), is_lab),
    "other_family": Audience(_fixed("other-kid")),
}


# -- talking to the server ------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """One token's HTTP client: paths are relative to the FHIR base."""

    name: str
    http: httpx.Client
    token: str | None

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str]] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        sent = {"accept": FHIR_JSON}
        if self.token is not None:
            sent["authorization"] = f"Bearer {self.token}"
        if json is not None:
            sent["content-type"] = FHIR_JSON
        sent.update(headers or {})
        # (httpx drops a query string already in ``path`` when ``params`` is given, even empty)
        return self.http.request(
            method,
            path,
            params=list(params) if params else None,
            json=json,
            content=content,
            headers=sent,
        )

    def get(self, path: str, *params: tuple[str, str], **headers: str) -> httpx.Response:
        return self.request("GET", path, params=params, headers=_headers(headers))

    def put(self, path: str, body: Resource, **headers: str) -> httpx.Response:
        return self.request("PUT", path, json=body, headers=_headers(headers))

    def post(self, path: str, body: Any, **headers: str) -> httpx.Response:
        return self.request("POST", path, json=body, headers=_headers(headers))

    def delete(self, path: str, **headers: str) -> httpx.Response:
        return self.request("DELETE", path, headers=_headers(headers))

    def patch(self, path: str, operations: list[dict[str, Any]], **headers: str) -> httpx.Response:
        import orjson

        return self.request(
            "PATCH",
            path,
            content=orjson.dumps(operations),
            headers={"content-type": "application/json-patch+json", **_headers(headers)},
        )

    def search(self, path: str, *params: tuple[str, str]) -> dict[str, Any]:
        """A search that must succeed: its Bundle."""
        response = self.get(path, *params)
        assert response.status_code == 200, (path, params, response.status_code, response.text)
        bundle: dict[str, Any] = response.json()
        return bundle


def _headers(given: Mapping[str, str]) -> dict[str, str]:
    """``if_none_exist="..."`` -> ``If-None-Exist: ...``."""
    return {name.replace("_", "-"): value for name, value in given.items()}


def keys(bundle: Mapping[str, Any], *modes: str) -> set[str]:
    """``Type/id`` of the bundle's entries (only those of ``modes`` when given)."""
    out = set()
    for entry in bundle.get("entry", []):
        resource = entry.get("resource")
        if resource is None or resource.get("resourceType") == "OperationOutcome":
            continue
        if modes and entry.get("search", {}).get("mode") not in modes:
            continue
        out.add(f"{resource['resourceType']}/{resource.get('id')}")
    return out


def resources(bundle: Mapping[str, Any]) -> list[Resource]:
    return [
        entry["resource"]
        for entry in bundle.get("entry", [])
        if "resource" in entry and entry["resource"].get("resourceType") != "OperationOutcome"
    ]


def fresh_id(prefix: str = "sec") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


# -- the world ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class World:
    database_url: str
    base_url: str
    http: httpx.Client
    system: Caller

    def caller(
        self,
        name: str,
        scope: str,
        *,
        role: Role = Role.BENEFICIARY,
        username: str | None = "demo.sponsor",
        patient: str | None = None,
        links: tuple[Link, ...] = FAMILY,
    ) -> Caller:
        token = issue_token(
            self.database_url,
            scope=scope,
            role=role,
            username=username,
            patient=patient,
            links=links,
        )
        return Caller(name, self.http, token)

    def anonymous(self, token: str | None = None) -> Caller:
        return Caller("anonymous", self.http, token)


def _seed(system: Caller) -> None:
    loaded = system.post("", demo_bundle())
    assert loaded.status_code == 200, loaded.text
    entries = [
        {"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}}
        for r in EXTRA
    ]
    extra = system.post("", {"resourceType": "Bundle", "type": "transaction", "entry": entries})
    assert extra.status_code == 200, extra.text
    moved = system.put("Observation/moved-obs", MOVED_V2)  # its history spans two families
    assert moved.status_code == 200, moved.text


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder: Path = tmp_path_factory.mktemp("security")
    database_url = f"sqlite:///{folder}/sec.db"
    settings = Settings(database_url=database_url, log_level="warning")
    system_token = issue_token(database_url, scope="system/*.cruds", role=Role.SYSTEM)
    with (
        running_server(settings) as base_url,
        httpx.Client(base_url=base_url + "/", timeout=30.0) as http,
    ):
        system = Caller("system", http, system_token)
        _seed(system)
        yield World(database_url, base_url, http, system)


@pytest.fixture(scope="module")
def system(world: World) -> Caller:
    return world.system


@pytest.fixture(scope="module")
def patient(world: World) -> Caller:
    """A patient-launch token for demo-child (launched by the sponsor): patient/*.rs."""
    return world.caller("patient", "patient/*.rs", patient="demo-child")


@pytest.fixture(scope="module")
def proxy(world: World) -> Caller:
    """The sponsor acting for the family: user/*.rs (the teen: Patient and Appointment only;
    the adult spouse: nothing)."""
    return world.caller("proxy", "user/*.rs")


@pytest.fixture(scope="module")
def granular(world: World) -> Caller:
    """demo-child's laboratory Observations only (a SMART v2 granular scope)."""
    return world.caller("granular", f"patient/Observation.rs?{LAB_FILTER}", patient="demo-child")


@pytest.fixture(scope="module")
def other_family(world: World) -> Caller:
    """other-mom's patient-launch token for her son other-kid."""
    return world.caller(
        "other_family",
        "patient/*.rs",
        username="other.mom",
        patient="other-kid",
        links=OTHER_FAMILY,
    )


@pytest.fixture(scope="module")
def patient_writer(world: World) -> Caller:
    return world.caller("patient", "patient/*.cruds", patient="demo-child")


@pytest.fixture(scope="module")
def proxy_writer(world: World) -> Caller:
    return world.caller("proxy", "user/*.cruds")


@pytest.fixture(scope="module")
def granular_writer(world: World) -> Caller:
    return world.caller("granular", f"patient/Observation.cruds?{LAB_FILTER}", patient="demo-child")


# -- what the tests share ------------------------------------------------------------------------

WRITE_CODE = "99999-9"  # every Observation the write tests make has this code
IDENTIFIER = "urn:test:security"


def caller(request: pytest.FixtureRequest, name: str) -> Caller:
    found: Caller = request.getfixturevalue(name)
    return found


def masked(text: str, ids: tuple[str, ...]) -> str:
    for id in ids:
        text = text.replace(id, "<id>")
    return text


def answer(response: httpx.Response, *ids: str) -> tuple[int, list[str], Any]:
    """What an attacker can compare between two responses: the status, the header names and
    the body with the ids masked (a Bundle without its own id and timestamp)."""
    names = sorted(n for n in response.headers if n not in ("date", "content-length"))
    body: Any = json.loads(masked(response.text, ids)) if response.content else None
    if isinstance(body, dict) and body.get("resourceType") == "Bundle":
        body = {k: v for k, v in body.items() if k not in ("id", "meta")}
    return response.status_code, names, body


def assert_like_missing(
    beyond: httpx.Response, beyond_id: str, missing: httpx.Response, missing_id: str
) -> None:
    assert answer(beyond, beyond_id, missing_id) == answer(missing, beyond_id, missing_id), (
        beyond.status_code,
        beyond.text,
        missing.status_code,
        missing.text,
    )


def written(id: str | None, subject: str, *, category: str = "laboratory") -> Resource:
    """An Observation a write test makes (its own code, a fresh identifier)."""
    return observation(
        id, subject, category=category, code=WRITE_CODE, identifier=fresh_id("ident")
    )


def identifier_of(resource: Resource) -> str:
    return str(resource["identifier"][0]["value"])


def stored_with(system: Caller, identifier: str) -> set[str]:
    """What the server holds with this identifier (asked with the system token)."""
    return keys(system.search("Observation", ("identifier", f"{IDENTIFIER}|{identifier}")))


def current(system: Caller, path: str) -> Resource:
    response = system.get(path)
    assert response.status_code == 200, response.text
    body: Resource = response.json()
    return body


def place(system: Caller, resource: Resource) -> Resource:
    """Store ``resource`` with the system token (fixed id); the stored version."""
    response = system.put(f"{resource['resourceType']}/{resource['id']}", resource)
    assert response.status_code in (200, 201), response.text
    body: Resource = response.json()
    return body
