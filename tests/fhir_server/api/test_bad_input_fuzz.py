"""Property tests over real HTTP: garbage in gives a 4xx OperationOutcome and changes nothing,
random headers never give a 5xx, and random valid Patients round-trip.

One server for the whole module (hypothesis examples must not use function-scoped fixtures).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from fhir_server.config import Settings as ServerSettings
from fhir_server.testing import running_server as serve

FHIR_JSON = "application/fhir+json"
JSON = "application/json"
SEED_ID = "fuzz-seed"
HEADER_TARGET_ID = "header-fuzz"

SEED: dict[str, Any] = {
    "resourceType": "Patient",
    "id": SEED_ID,
    "identifier": [{"system": "http://example.org/mrn", "value": "SEED-1"}],
    "name": [{"family": "Seed", "given": ["Sally"]}],
    "gender": "female",
    "birthDate": "1970-01-01",
}

# Every JSON property of an R4 Patient (json.html); an unknown key makes a body invalid.
PATIENT_ELEMENTS = frozenset(
    {
        "resourceType", "id", "meta", "implicitRules", "language", "text", "contained",
        "extension", "modifierExtension", "identifier", "active", "name", "telecom", "gender",
        "birthDate", "deceasedBoolean", "deceasedDateTime", "address", "maritalStatus",
        "multipleBirthBoolean", "multipleBirthInteger", "photo", "contact", "communication",
        "generalPractitioner", "managingOrganization", "link",
    }
)  # fmt: skip
# ``meta`` is left out of the keys given random values: a non-object meta is a known 500,
# pinned by test_errors.py::test_meta_that_is_not_an_object_is_a_client_error.
FUZZED_ELEMENTS = sorted(PATIENT_ELEMENTS - {"resourceType", "meta"})
DATE_LIKE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")

FAST = settings(max_examples=100, deadline=None, database=None)
FEW = settings(max_examples=40, deadline=None, database=None)


# -- the module's server -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def http(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    folder: Path = tmp_path_factory.mktemp("fuzz")
    server_settings = ServerSettings(
        database_url=f"sqlite:///{folder}/fuzz.db",
        max_body_bytes=1024 * 1024,
        insecure_no_auth=True,
    )
    with (
        serve(server_settings) as base_url,
        httpx.Client(base_url=base_url + "/", headers={"accept": FHIR_JSON}, timeout=30) as client,
    ):
        seeded = client.put(
            f"Patient/{SEED_ID}", content=json.dumps(SEED), headers={"content-type": FHIR_JSON}
        )
        assert seeded.status_code == 201, seeded.text
        yield client


# -- helpers --------------------------------------------------------------------------------------


def assert_no_traceback(response: httpx.Response) -> None:
    assert "Traceback" not in response.text
    assert 'File "' not in response.text


def assert_client_error_outcome(response: httpx.Response) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert_no_traceback(response)
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"]
    assert all(issue["severity"] in ("error", "fatal") for issue in outcome["issue"])


def snapshot(client: httpx.Client) -> tuple[list[Any], bytes, str]:
    """System history (every version) and the seeded resource as served."""
    history = client.get("_history", params={"_count": "1000"})
    assert history.status_code == 200, history.text
    seed = client.get(f"Patient/{SEED_ID}")
    assert seed.status_code == 200, seed.text
    return history.json().get("entry", []), seed.content, seed.headers["etag"]


def send_garbage(
    client: httpx.Client, method: str, body: bytes | dict[str, Any], content_type: str
) -> httpx.Response:
    if isinstance(body, dict):
        if method == "PUT":
            # with the URL's id, so the body reaches validation rather than the id check
            body = {**body, "id": SEED_ID}
        content = json.dumps(body).encode()
    else:
        content = body
    path = "Patient" if method == "POST" else f"Patient/{SEED_ID}"
    return client.request(method, path, content=content, headers={"content-type": content_type})


# -- strategies: garbage ------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
unknown_keys = st.text(min_size=1, max_size=12).filter(
    lambda key: key.lstrip("_") not in PATIENT_ELEMENTS
)


@st.composite
def garbage_patients(draw: st.DrawFn) -> dict[str, Any]:
    """A Patient with random known elements and at least one unknown one: always invalid."""
    known = draw(st.dictionaries(st.sampled_from(FUZZED_ELEMENTS), json_values, max_size=4))
    unknown = draw(st.dictionaries(unknown_keys, json_values, min_size=1, max_size=3))
    items = [*known.items(), *unknown.items()]
    order = draw(st.permutations(range(len(items))))
    return {"resourceType": "Patient", **{items[i][0]: items[i][1] for i in order}}


bad_birth_dates = st.builds(
    lambda date: {"resourceType": "Patient", "birthDate": date},
    st.text(max_size=16).filter(lambda s: not DATE_LIKE.match(s)),
)
not_resources = json_values.filter(lambda v: not (isinstance(v, dict) and "resourceType" in v))
garbage_bodies = st.one_of(
    st.binary(max_size=300),
    not_resources.map(lambda v: json.dumps(v).encode()),
    garbage_patients(),
    bad_birth_dates,
)
body_types = st.sampled_from([FHIR_JSON, JSON, f"{FHIR_JSON}; charset=utf-8"])


# -- (a) garbage bodies: always a 4xx OperationOutcome ------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT"])
@FAST
@given(body=garbage_bodies, content_type=body_types)
def test_garbage_body_is_a_4xx_operation_outcome(
    http: httpx.Client, method: str, body: bytes | dict[str, Any], content_type: str
) -> None:
    response = send_garbage(http, method, body, content_type)
    event(f"status {response.status_code}")
    assert_client_error_outcome(response)


# -- (b) garbage bodies: never change stored data ----------------------------------------------


@pytest.mark.parametrize("method", ["POST", "PUT"])
@FEW
@given(body=garbage_bodies, content_type=body_types)
def test_garbage_body_changes_no_stored_data(
    http: httpx.Client, method: str, body: bytes | dict[str, Any], content_type: str
) -> None:
    before = snapshot(http)
    send_garbage(http, method, body, content_type)
    assert snapshot(http) == before


# -- (c) random header values: never a 5xx ------------------------------------------------------

header_text = (
    st.text(alphabet=st.characters(codec="latin-1", exclude_categories=("Cc",)), max_size=40)
    .map(str.strip)
    .map(lambda s: s.encode("latin-1"))
)
media_params = st.sampled_from(
    ["", ";q=0.5", ";q=0", ";q=x", "; charset=utf-8", ";charset=latin-1", ";fhirVersion=4.0", ";"]
)
media_types = st.sampled_from(
    [
        FHIR_JSON,
        JSON,
        "application/json+fhir",
        "application/fhir+xml",
        "application/xml",
        "text/plain",
        "text/html",
        "*/*",
        "application/*",
        "json",
        "",
    ]
)
media_ranges = st.lists(
    st.tuples(media_types, media_params).map("".join), min_size=1, max_size=3
).map(lambda parts: ", ".join(parts).strip().encode())
etags = st.one_of(
    st.integers(-2, 5).map(lambda n: f'W/"{n}"'),
    st.integers(0, 10**20).map(lambda n: f'"{n}"'),
    st.sampled_from(["*", 'W/""', 'W/"1", W/"2"', "W/1", '"', "W/"]),
).map(str.encode)
preferences = st.lists(
    st.sampled_from(
        [
            "return=minimal",
            "return=representation",
            "return=OperationOutcome",
            'return="minimal"',
            "return=",
            "handling=strict",
            "handling=lenient",
            "respond-async",
            "=",
            ";",
        ]
    ),
    min_size=1,
    max_size=3,
).map(lambda parts: ", ".join(parts).strip().encode())
random_headers = st.fixed_dictionaries(
    {},
    optional={
        "accept": st.just(FHIR_JSON.encode()) | media_ranges | header_text,
        "content-type": st.just(FHIR_JSON.encode()) | media_ranges | header_text,
        "if-match": etags | header_text,
        "if-none-match": etags | header_text,
        "prefer": preferences | header_text,
    },
)
header_requests = st.sampled_from(
    [
        ("GET", f"Patient/{SEED_ID}"),
        ("GET", f"Patient/{HEADER_TARGET_ID}"),
        ("GET", "Patient?gender=female"),
        ("GET", f"Patient/{SEED_ID}/_history/1"),
        ("POST", "Patient"),
        ("PUT", f"Patient/{HEADER_TARGET_ID}"),
        ("DELETE", f"Patient/{HEADER_TARGET_ID}"),
    ]
)


@settings(FAST, max_examples=200)
@given(request=header_requests, headers=random_headers)
def test_random_header_values_never_give_a_server_error(
    http: httpx.Client, request: tuple[str, str], headers: dict[str, bytes]
) -> None:
    method, path = request
    body = None
    if method in ("POST", "PUT"):
        body = json.dumps({**SEED, "id": HEADER_TARGET_ID}).encode()
    response = http.request(method, path, content=body, headers=headers)
    event(f"{method} status {response.status_code}")
    assert response.status_code < 500, (response.status_code, response.text)
    assert_no_traceback(response)


# -- (d) random valid Patients round-trip -------------------------------------------------------

words = st.text(
    alphabet=st.characters(categories=("L", "Nd"), include_characters=" '-.,"),
    min_size=1,
    max_size=20,
).map(str.strip).filter(bool)  # fmt: skip
human_names = st.fixed_dictionaries(
    {"family": words},
    optional={
        "given": st.lists(words, min_size=1, max_size=3),
        "use": st.sampled_from(["usual", "official", "temp", "nickname", "maiden"]),
        "prefix": st.lists(words, min_size=1, max_size=2),
    },
)
identifiers = st.fixed_dictionaries(
    {
        "system": st.sampled_from(
            ["http://example.org/mrn", "urn:oid:2.16.840.1.113883.4.1", "https://dod.example/edipi"]
        ),
        "value": words,
    },
    optional={"use": st.sampled_from(["usual", "official", "temp", "secondary"])},
)
telecoms = st.fixed_dictionaries(
    {
        "system": st.sampled_from(["phone", "fax", "email", "pager", "url", "sms", "other"]),
        "value": words,
    },
    optional={
        "use": st.sampled_from(["home", "work", "temp", "old", "mobile"]),
        "rank": st.integers(1, 100),
    },
)
birth_dates = st.one_of(
    st.dates().map(lambda d: d.isoformat()),
    st.dates().map(lambda d: d.isoformat()[:7]),
    st.dates().map(lambda d: d.isoformat()[:4]),
).filter(lambda s: not s.startswith("0"))  # FHIR years start 1-9
valid_patients = st.fixed_dictionaries(
    {"resourceType": st.just("Patient")},
    optional={
        "identifier": st.lists(identifiers, min_size=1, max_size=3),
        "active": st.booleans(),
        "name": st.lists(human_names, min_size=1, max_size=3),
        "telecom": st.lists(telecoms, min_size=1, max_size=3),
        "gender": st.sampled_from(["male", "female", "other", "unknown"]),
        "birthDate": birth_dates,
    },
)


@settings(FEW, max_examples=60)
@given(patient=valid_patients)
def test_valid_patient_round_trips_with_meta(http: httpx.Client, patient: dict[str, Any]) -> None:
    created = http.post("Patient", content=json.dumps(patient), headers={"content-type": FHIR_JSON})
    assert created.status_code == 201, created.text
    pid = created.json()["id"]
    read = http.get(f"Patient/{pid}")
    assert read.status_code == 200
    assert read.content == created.content
    resource = read.json()
    assert resource["resourceType"] == "Patient"
    assert resource["id"] == pid
    assert resource["meta"]["versionId"] == "1"
    assert resource["meta"]["lastUpdated"]
    assert {k: v for k, v in resource.items() if k not in ("id", "meta")} == patient
