"""HTTP fuzzing of the live server from its own OpenAPI description, and with FHIR-shaped
requests: whatever arrives, the answer is never a 5xx, every 4xx is a FHIR OperationOutcome
(``resourceType`` OperationOutcome, a non-empty ``issue``) in a FHIR JSON content type, and a
rejected request leaves the store exactly as it was.

Two kinds of requests, each sent over real HTTP to ``running_server``:

- **from the OpenAPI document** the server serves (``[base]/_openapi.json``), loaded with
  schemathesis: every operation it describes (method and path template), its path
  parameters generated from their declared JSON schemas (and hostile variants: slashes,
  dots, percent signs, control characters, long values). The FHIR routes are generic
  (``/{type}/{id}``), so that is what this fuzzes; the document describes no bodies, query
  parameters or headers, so those come from the FHIR strategies below.
  schemathesis 3.39's own case generator (through hypothesis-jsonschema 0.23.1) cannot run
  on the Hypothesis this project pins (``AttributeError: 'many' object has no attribute
  'more'`` on any object schema, i.e. every operation with path parameters), so values are
  drawn per parameter with ``hypothesis_jsonschema.from_schema`` of the parameter's schema.
- **FHIR-shaped**: every path shape of http.html (type, instance, history, vread,
  compartment, ``$validate``, ``_search``, the base) with served, unknown and malformed
  types and ids; query strings from real parameter names, modifiers, prefixes and escapes;
  bodies that are arbitrary bytes, arbitrary JSON, mutated resources, JSON Patch documents
  and batch/transaction Bundles; the headers that steer FHIR (Accept, Content-Type,
  Prefer, If-Match, If-None-Match, If-None-Exist, If-Modified-Since).

Both run against a server without authorization (``insecure_no_auth``, as the other suites),
where requests reach every interaction; then against one with authorization on, where
requests carry no token or a garbage one: only the public endpoints may answer 2xx, the rest
is 401 (with ``WWW-Authenticate``) or an earlier 4xx, and nothing is ever stored.

The store snapshot is read from the SQLite file (versions written, resources): every write,
including a delete, adds a version. ``MHS_FHIR_FUZZ_EXAMPLES`` sets the examples per test
(default small for CI; ``make fuzz`` sets it high).
"""

from __future__ import annotations

import os
import sqlite3
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from schemathesis.internal.result import Ok

from fhir_server.config import Settings
from fhir_server.testing import running_server

EXAMPLES = int(os.environ.get("MHS_FHIR_FUZZ_EXAMPLES", "150"))
FHIR_JSON = "application/fhir+json"
FHIR_CONTENT_TYPES = ("application/fhir+json", "application/json")
PUBLIC_PATHS = ("/metadata", "/.well-known/smart-configuration")
MAX_BODY = 64 * 1024

fuzz = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# -- the server under test ---------------------------------------------------------------


@dataclass
class Live:
    """A running server, an HTTP client for it and its database file."""

    base_url: str
    db: Path
    http: httpx.Client
    statuses: dict[int, int] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.netloc}"

    def snapshot(self) -> tuple[int, int, int]:
        """(versions, newest version seq, resources): any write changes the first two."""
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM versions), (SELECT coalesce(max(seq), 0)"
                " FROM versions), (SELECT count(*) FROM resources)"
            ).fetchone()
        finally:
            conn.close()
        return int(row[0]), int(row[1]), int(row[2])


SEED: list[tuple[str, dict[str, Any]]] = [
    ("Patient/fz-p1", {"resourceType": "Patient", "name": [{"family": "Fuzz", "given": ["A"]}]}),
    ("Patient/fz-p1", {"resourceType": "Patient", "name": [{"family": "Fuzz", "given": ["B"]}]}),
    ("Patient/fz-gone", {"resourceType": "Patient", "name": [{"family": "Gone"}]}),
    (
        "Observation/fz-o1",
        {
            "resourceType": "Observation",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "subject": {"reference": "Patient/fz-p1"},
            "effectiveDateTime": "2026-11-01T10:00:00Z",
            "valueQuantity": {"value": 72, "unit": "/min"},
        },
    ),
    (
        "Practitioner/fz-pr1",
        {"resourceType": "Practitioner", "name": [{"family": "Doc"}], "active": True},
    ),
    (
        "Organization/fz-org1",
        {"resourceType": "Organization", "name": "Fuzz Clinic", "active": True},
    ),
]
SEEDED_IDS = ("fz-p1", "fz-gone", "fz-o1", "fz-pr1", "fz-org1")


def _serve(tmp: Path, *, insecure: bool) -> Iterator[Live]:
    db = tmp / "fuzz.db"
    config = Settings(
        database_url=f"sqlite:///{db}", max_body_bytes=MAX_BODY, insecure_no_auth=insecure
    )
    with running_server(config) as url:
        headers = {"accept": FHIR_JSON}
        with httpx.Client(base_url=url + "/", headers=headers, timeout=30.0) as http:
            if insecure:
                for path, body in SEED:
                    stored = http.put(path, json={**body, "id": path.split("/")[1]})
                    assert stored.status_code in (200, 201), stored.text
                assert http.delete("Patient/fz-gone").status_code in (200, 204)
            yield Live(base_url=url, db=db, http=http)


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """Authorization off, a few resources stored (one with two versions, one deleted)."""
    yield from _serve(tmp_path_factory.mktemp("fuzz-open"), insecure=True)


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """Authorization on; no token of this server is ever sent."""
    yield from _serve(tmp_path_factory.mktemp("fuzz-guarded"), insecure=False)


# -- what every answer must be -----------------------------------------------------------


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # below the base URL, already percent-encoded where it needs to be
    query: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None

    def describe(self) -> str:
        shown = (self.body or b"")[:300]
        return f"{self.method} /{self.path}?{self.query} headers={self.headers} body={shown!r}"


def send(live: Live, request: Request) -> httpx.Response:
    url = f"{live.base_url}/{request.path}"
    if request.query:
        url += f"?{request.query}"
    # HTTP/1.1 (h11) cannot carry leading or trailing blanks in a header value
    headers = [(name, value.strip()) for name, value in request.headers]
    response = live.http.request(request.method, url, headers=headers, content=request.body)
    live.statuses[response.status_code] = live.statuses.get(response.status_code, 0) + 1
    return response


def check_answer(live: Live, request: Request) -> httpx.Response:
    """Send ``request``; fail unless the answer is sound (see the module docstring)."""
    before = live.snapshot()
    response = send(live, request)
    status, what = response.status_code, request.describe()
    assert status < 500, f"{status} {response.text[:500]} for {what}"
    if 400 <= status < 500:
        assert live.snapshot() == before, f"{status} but the store changed, for {what}"
        media = response.headers.get("content-type", "").split(";")[0].strip()
        assert media in FHIR_CONTENT_TYPES, f"{status} in {media!r} for {what}"
        if request.method != "HEAD":
            outcome = response.json()
            assert outcome.get("resourceType") == "OperationOutcome", f"{outcome} for {what}"
            issues = outcome.get("issue")
            assert isinstance(issues, list) and issues, f"{outcome} for {what}"
            assert all(i.get("severity") and i.get("code") for i in issues), outcome
    elif request.method != "HEAD" and response.content:
        media = response.headers.get("content-type", "").split(";")[0].strip()
        if media in FHIR_CONTENT_TYPES:
            orjson.loads(response.content)  # a 2xx in JSON is JSON
    return response


# -- strategies: FHIR-shaped requests ----------------------------------------------------

SERVED = (
    "Patient",
    "Observation",
    "Appointment",
    "Communication",
    "MedicationRequest",
    "Practitioner",
    "Organization",
    "Slot",
    "Bundle",
    "AuditEvent",
    "RelatedPerson",
    "Coverage",
    "Binary",
    "Task",
)
UNKNOWN_TYPES = ("Nope", "patient", "PATIENT", "Patients", "Resource", "DomainResource", "X")
hostile_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40
) | st.sampled_from(("", ".", "..", "%", "%2F", "/", "a/b", "*", "$", "_history", "x" * 70))
resource_types = (
    st.sampled_from(SERVED)
    | st.sampled_from(UNKNOWN_TYPES)
    | st.from_regex(r"\A[A-Z][a-z]{0,12}\Z")
)
ids = st.sampled_from(SEEDED_IDS) | st.from_regex(r"\A[A-Za-z0-9\-.]{1,64}\Z") | hostile_text


def segment(value: str) -> str:
    return quote(value, safe="$*")


PATH_SHAPES = (
    "",
    "metadata",
    "_history",
    "_search",
    "{type}",
    "{type}/_search",
    "{type}/_history",
    "{type}/$validate",
    "{type}/{id}",
    "{type}/{id}/_history",
    "{type}/{id}/_history/{vid}",
    "{type}/{id}/$validate",
    "Patient/{id}/{type}",
    "Patient/{id}/*",
    "{type}/{id}/{type}/{id}",
    "$export",
    "{type}/$everything",
    ".well-known/smart-configuration",
    "{id}",
)

PARAM_NAMES = (
    "_id",
    "_lastUpdated",
    "_count",
    "_sort",
    "_include",
    "_revinclude",
    "_include:iterate",
    "_summary",
    "_elements",
    "_total",
    "_cursor",
    "_format",
    "_pretty",
    "_type",
    "_since",
    "_at",
    "_tag",
    "_has:Observation:subject:code",
    "_has:Observation:patient:_has:Observation:subject:code",
    "name",
    "name:exact",
    "name:contains",
    "family",
    "birthdate",
    "identifier",
    "identifier:of-type",
    "gender:not",
    "gender:missing",
    "general-practitioner",
    "general-practitioner:Practitioner.name",
    "subject",
    "subject:Patient",
    "subject.name",
    "patient",
    "patient.identifier",
    "code",
    "code:text",
    "code:below",
    "value-quantity",
    "code-value-quantity",
    "date",
    "status",
    "topic",
    "sent",
    "recipient",
    "received:missing",
    "actor",
    "mode",
    "profile",
    "url",
)
VALUE_PIECES = (
    "eq",
    "ne",
    "gt",
    "lt",
    "ge",
    "le",
    "sa",
    "eb",
    "ap",
    "2026",
    "2026-11-29",
    "2026-11-29T10:00:00Z",
    "2026-02-30",
    "|",
    "\\|",
    "\\,",
    "\\",
    ",",
    "$",
    "http://loinc.org",
    "8867-4",
    "Patient/fz-p1",
    "fz-p1",
    "1.5",
    "1e3",
    "9" * 30,
    "||mg",
    "true",
    "false",
    ":",
    "*",
    "Patient:general-practitioner",
    "Observation:subject",
    "-date",
    "count",
    "W10",
    "-",
)
query_values = st.lists(st.sampled_from(VALUE_PIECES), max_size=5).map("".join) | hostile_text
query_strings = st.lists(
    st.tuples(st.sampled_from(PARAM_NAMES) | hostile_text, query_values), max_size=5
).map(
    lambda pairs: "&".join(f"{quote(k, safe=':')}={quote(v, safe='')}" for k, v in pairs)
) | st.sampled_from(("&&&", "=", "a=%", "%zz", "_count=-1", "_count=0", "x=%00", "?"))

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
JSON_KEYS = st.sampled_from(
    (
        "resourceType",
        "id",
        "meta",
        "name",
        "given",
        "status",
        "subject",
        "reference",
        "code",
        "value",
        "extension",
        "url",
        "entry",
        "request",
        "method",
        "resource",
        "fullUrl",
        "op",
        "path",
        "from",
        "type",
    )
)
json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(JSON_KEYS | st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=15,
)


def usually(draw: st.DrawFn, odds: int) -> bool:
    """True about ``odds`` times out of ``odds + 1`` (and when shrinking: the failing example
    shown is then the plainest request that fails)."""
    return draw(st.integers(0, odds)) < odds


@st.composite
def resources(draw: st.DrawFn, type: str, id: str | None = None) -> dict[str, Any]:
    """A seed resource (or a bare one) of ``type`` with ``id``, often with a few elements
    changed (a valid write, a 422, a 400 for another type or id)."""
    seeds = [body for path, body in SEED if path.startswith(type + "/")]
    doc = dict(draw(st.sampled_from(seeds))) if seeds else {"resourceType": type}
    if id is not None and usually(draw, 3):
        doc["id"] = id
    if draw(st.booleans()):
        doc.update(draw(st.dictionaries(JSON_KEYS, json_values, max_size=2)))
        if usually(draw, 3):
            doc["resourceType"] = type
    return doc


@st.composite
def bundles(draw: st.DrawFn) -> dict[str, Any]:
    entries = []
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        type = draw(resource_types)
        entry: dict[str, Any] = {
            "request": {
                "method": draw(st.sampled_from(("GET", "POST", "PUT", "PATCH", "DELETE", "X"))),
                "url": draw(
                    st.sampled_from((type, f"{type}/fz-p1", f"{type}?name=x", "", "urn:uuid:1"))
                    | hostile_text
                ),
            }
        }
        if draw(st.booleans()):
            entry["resource"] = draw(resources(type))
        if draw(st.booleans()):
            entry["fullUrl"] = draw(st.sampled_from(("urn:uuid:1", "Patient/fz-p1")) | hostile_text)
        entries.append(entry if usually(draw, 9) else draw(json_values))
    return {
        "resourceType": "Bundle",
        "type": draw(st.sampled_from(("batch", "transaction", "collection", "x"))),
        "entry": entries,
    }


json_patches = st.lists(
    st.fixed_dictionaries(
        {
            "op": st.sampled_from(("add", "remove", "replace", "move", "copy", "test", "x")),
            "path": st.sampled_from(("/name/0/family", "/id", "/meta", "/resourceType", "", "/-"))
            | hostile_text,
        },
        optional={"value": json_values, "from": st.sampled_from(("/name", "/x"))},
    ),
    max_size=3,
)


def _dump(value: Any) -> bytes:
    return orjson.dumps(value)


def bodies(type: str, id: str) -> st.SearchStrategy[bytes]:
    """What a write may carry: mostly a resource of the URL's type (and id), else anything."""
    return st.one_of(
        resources(type, id).map(_dump),
        resources(type, id).map(_dump),
        bundles().map(_dump),
        json_patches.map(_dump),
        json_values.map(_dump),
        st.binary(max_size=100),
        query_strings.map(str.encode),  # a form-encoded POST _search
        st.sampled_from((b"", b"{", b"[" * 2000, b"{}" * 3, b'{"resourceType":1}')),
        st.just(b" " * (MAX_BODY + 1)),
    )


CONTENT_TYPES = (
    FHIR_JSON,
    "application/json",
    "application/json-patch+json",
    "application/x-www-form-urlencoded",
    "application/fhir+json; charset=utf-8",
    "application/fhir+xml",
    "text/plain",
    "",
    "multipart/form-data; boundary=x",
    ";;;",
)
header_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30)
HEADER_CHOICES: dict[str, st.SearchStrategy[str]] = {
    "content-type": st.sampled_from(CONTENT_TYPES) | header_text,
    "accept": st.sampled_from(
        (FHIR_JSON, "application/json", "*/*", "application/xml", "text/html", "", "a/b;q=x")
    )
    | header_text,
    "prefer": st.sampled_from(
        (
            "return=minimal",
            "return=representation",
            "return=OperationOutcome",
            "handling=strict",
            "handling=lenient",
            "respond-async",
        )
    )
    | header_text,
    "if-match": st.sampled_from(('W/"1"', 'W/"2"', '"1"', "*", 'W/"x"', 'W/"99999999999999999999"'))
    | header_text,
    "if-none-match": st.sampled_from(('W/"1"', "*", 'W/"2"')) | header_text,
    "if-none-exist": query_strings,
    "if-modified-since": st.sampled_from(
        ("Sun, 29 Nov 2026 10:00:00 GMT", "yesterday", "2026-11-29")
    )
    | header_text,
}


@st.composite
def headers(draw: st.DrawFn, *, content_type: str | None) -> tuple[tuple[str, str], ...]:
    """A few FHIR headers; with a body, usually the Content-Type it needs (``content_type``)."""
    names = draw(st.lists(st.sampled_from(sorted(HEADER_CHOICES)), unique=True, max_size=3))
    chosen = [(name, draw(HEADER_CHOICES[name])) for name in names if name != "content-type"]
    if content_type is not None:
        if usually(draw, 4):
            chosen.append(("content-type", content_type))
        elif "content-type" in names:
            chosen.append(("content-type", draw(HEADER_CHOICES["content-type"])))
    return tuple(chosen)


COMMON_METHODS = ("GET", "GET", "GET", "HEAD", "POST", "POST", "PUT", "PUT", "PATCH", "DELETE")
ODD_METHODS = ("OPTIONS", "TRACE", "PROPFIND", "CONNECT")
SHAPES_BY_METHOD = {
    "POST": ("{type}", "{type}", "", "{type}/_search", "_search", "{type}/$validate"),
    "PUT": ("{type}/{id}", "{type}/{id}", "{type}"),
    "PATCH": ("{type}/{id}", "{type}"),
    "DELETE": ("{type}/{id}", "{type}"),
}


def content_type_for(method: str, path: str) -> str:
    if method == "PATCH":
        return "application/json-patch+json"
    if path.endswith("_search"):
        return "application/x-www-form-urlencoded"
    return FHIR_JSON


@st.composite
def fhir_requests(draw: st.DrawFn) -> Request:
    """One request of http.html's shapes, usually well aimed, sometimes anything at all."""
    odd = not usually(draw, 9)
    method = draw(st.sampled_from(ODD_METHODS if odd else COMMON_METHODS))
    type = draw(st.sampled_from(SERVED) if usually(draw, 4) else resource_types)
    id = draw(st.sampled_from(SEEDED_IDS) if draw(st.booleans()) else ids)
    aimed = SHAPES_BY_METHOD.get(method, PATH_SHAPES)
    shape = draw(st.sampled_from(aimed if usually(draw, 4) else PATH_SHAPES))
    path = shape.format(
        type=segment(type),
        id=segment(id),
        vid=segment(draw(st.sampled_from(("1", "2", "3", "0", "-1", "x")) | hostile_text)),
    )
    body: bytes | None = None
    content_type = None
    if method in ("POST", "PUT", "PATCH"):
        content_type = content_type_for(method, path)
        if method == "PATCH" and usually(draw, 3):
            body = draw(json_patches.map(_dump))
        elif path.endswith("_search") and usually(draw, 3):
            body = draw(query_strings).encode()
        elif path == "" and usually(draw, 3):
            body = draw(bundles().map(_dump))
        else:
            body = draw(bodies(type, id))
    return Request(
        method=method,
        path=path,
        query=draw(query_strings) if not usually(draw, 2) else "",
        headers=draw(headers(content_type=content_type)),
        body=body,
    )


# -- strategies: requests from the OpenAPI description -----------------------------------


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # the template below the base URL, e.g. {type}/{id}
    parameters: tuple[tuple[str, dict[str, Any]], ...]  # path parameter name -> its schema


def openapi_operations(live: Live) -> list[Operation]:
    """Every operation of the server's OpenAPI document, as schemathesis reads it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # FastAPI writes OpenAPI 3.1; schemathesis 3.x reads the parts used here as 3.0.
        schema = schemathesis.from_uri(
            f"{live.base_url}/_openapi.json", base_url=live.origin, force_schema_version="30"
        )
    mount = urlsplit(live.base_url).path
    out = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"the OpenAPI document has a broken operation: {result}"
        operation = result.ok()
        parameters = tuple(
            (p.name, dict(p.definition.get("schema") or {"type": "string"}))
            for p in operation.path_parameters
        )
        path = operation.path.removeprefix(mount).lstrip("/")
        out.append(Operation(operation.method.upper(), path, parameters))
    return out


@st.composite
def openapi_requests(draw: st.DrawFn, operations: Sequence[Operation]) -> Request:
    """An operation of the document with path parameters drawn from their schemas (or FHIR
    types and ids, or hostile text), percent-encoded or not."""
    operation = draw(st.sampled_from(operations))
    values: dict[str, str] = {}
    for name, schema in operation.parameters:
        fhir_like = ids if name in ("id", "vid") else resource_types
        value = draw(st.one_of(from_schema(schema), fhir_like, hostile_text))
        values[name] = quote(str(value), safe=draw(st.sampled_from(("", "$*", "/"))))
    path = operation.path
    for name, value in values.items():
        path = path.replace("{" + name + "}", value)
    body: bytes | None = None
    content_type = None
    if operation.method in ("POST", "PUT", "PATCH"):
        content_type = content_type_for(operation.method, path)
        body = draw(bodies(values.get("type", "Patient"), values.get("id", "fz-p1")))
    return Request(
        method=operation.method,
        path=path,
        query=draw(query_strings) if draw(st.booleans()) else "",
        headers=draw(headers(content_type=content_type)),
        body=body,
    )


# -- without authorization: every interaction reachable ----------------------------------


def test_openapi_document_is_served_and_lists_the_fhir_interactions(open_server: Live) -> None:
    operations = openapi_operations(open_server)
    shapes = {(o.method, o.path) for o in operations}
    assert ("GET", "{type}/{id}") in shapes
    assert ("POST", "{type}") in shapes
    assert ("POST", "") in shapes  # batch / transaction
    assert len(operations) >= 20


def test_every_openapi_operation_answers_without_a_server_error(open_server: Live) -> None:
    operations = openapi_operations(open_server)

    @fuzz
    @given(request=openapi_requests(operations))
    def fuzz_operations(request: Request) -> None:
        check_answer(open_server, request)

    fuzz_operations()


@fuzz
@given(request=fhir_requests())
@example(request=Request("GET", "Patient/fz-gone"))
@example(request=Request("GET", "Patient/fz-p1/_history/0"))
@example(request=Request("GET", "Patient/fz-p1/_history/99999999999999999999"))
@example(request=Request("GET", "Patient", "_count=99999999999999999999"))
@example(request=Request("GET", "_history", "_count=99999999999999999999"))
@example(request=Request("GET", "_history", "_since=2026-13-45"))
@example(request=Request("GET", "Patient/fz-p1/Nope"))
@example(request=Request("GET", "Nope/fz-p1/Observation"))
@example(
    request=Request("PUT", "Patient/fz-p1", body=b"{}", headers=(("content-type", FHIR_JSON),))
)
@example(
    request=Request(
        "PUT",
        "Patient/fz-p1",
        body=b'{"resourceType":"Patient","id":"fz-p1"}',
        headers=(("content-type", FHIR_JSON), ("if-match", 'W/"99999999999999999999"')),
    )
)
@example(
    request=Request(
        "PATCH",
        "Patient/fz-p1",
        body=b'[{"op":"replace","path":"/resourceType","value":"Observation"}]',
        headers=(("content-type", "application/json-patch+json"),),
    )
)
@example(
    request=Request(
        "PATCH",
        "Patient/fz-p1",
        body=b'[{"op":"add","path":"/name/0/given/-","value":7}]',
        headers=(("content-type", "application/json-patch+json"),),
    )
)
@example(
    request=Request(
        "POST",
        "",
        body=b'{"resourceType":"Bundle","type":"transaction","entry":[1]}',
        headers=(("content-type", FHIR_JSON),),
    )
)
@example(
    request=Request(
        "POST",
        "",
        body=b'{"resourceType":"Bundle","type":"transaction","entry":[{"request":{"method":"PUT",'
        b'"url":"Patient/fz-p1"},"resource":{"resourceType":"Patient"}},{"request":{"method":'
        b'"POST","url":"Patient"},"resource":{"resourceType":"Patient","x":1}}]}',
        headers=(("content-type", FHIR_JSON),),
    )
)
@example(
    request=Request(
        "POST",
        "Observation",
        body=b'{"resourceType":"Observation","status":"final","code":{"text":"x"},'
        b'"valueQuantity":{"value":99999999999999999999},'
        b'"referenceRange":[{"low":{"value":1.50}}]}',
        headers=(("content-type", FHIR_JSON),),
    )
)
def test_fhir_shaped_requests_answer_without_a_server_error(
    open_server: Live, request: Request
) -> None:
    check_answer(open_server, request)


def test_an_integer_beyond_64_bits_is_stored_with_its_digits(open_server: Live) -> None:
    """Regression (found by the fuzzer): a decimal written as a big integer next to a decimal
    such as 1.50 was a 500 (orjson cannot write the Python int back); alone it was stored as
    1e+20. FHIR decimals keep their precision (json.html#primitive)."""
    body = (
        b'{"resourceType":"Observation","status":"final","code":{"text":"big"},'
        b'"valueQuantity":{"value":99999999999999999999},"referenceRange":[{"low":{"value":1.50}}]}'
    )
    for payload in (body, body.replace(b"1.50", b"2")):
        created = open_server.http.post(
            "Observation", content=payload, headers={"content-type": FHIR_JSON}
        )
        assert created.status_code == 201, created.text
        read = open_server.http.get(created.headers["location"])
        assert b'"valueQuantity":{"value":99999999999999999999}' in read.content


def test_dates_at_the_ends_of_time_are_stored_and_searched(open_server: Live) -> None:
    """Regression (found by the fuzzers): a date whose range reaches past 9999-12-31 was a
    500 on create and on search (OverflowError), and years before 1000 sorted after 2026."""
    http = open_server.http
    for birth in ("9999-12-31", "0999-05-01"):
        body = {"resourceType": "Patient", "name": [{"family": "Ends"}], "birthDate": birth}
        assert http.post("Patient", json=body).status_code == 201
    for query, found in (
        ("birthdate=9999-12-31", 1),
        ("birthdate=ap9999-12-31", 1),
        ("birthdate=lt1000", 1),
        ("birthdate=gt2000&birthdate=lt9999-12-31", 0),
    ):
        answer = http.get(f"Patient?family=Ends&{query}")
        assert answer.status_code == 200, (query, answer.text)
        assert answer.json()["total"] == found, query


def test_numbers_no_store_can_hold_are_answered_as_absent_not_500(open_server: Live) -> None:
    """Regression (found by the fuzzer): a version, history cursor or If-Match beyond 64 bits
    reached SQLite (OverflowError, a 500), and a version written in other digits than ASCII
    ('²' passes str.isdigit, not int) was a ValueError."""
    http, huge = open_server.http, "9" * 30
    assert http.get(f"Patient/fz-p1/_history/{huge}").status_code == 404
    assert http.get("Patient/fz-p1/_history/\u00b2").status_code == 404
    assert http.get("_history", params={"_cursor": huge}).status_code == 200
    assert http.get("_history", params={"_count": "\u00b2"}).status_code == 400
    assert http.get("_history", params={"_count": "9" * 5000}).status_code == 200
    body = {"resourceType": "Patient", "id": "fz-p1", "name": [{"family": "Fuzz"}]}
    stale = http.put("Patient/fz-p1", json=body, headers={"if-match": f'W/"{huge}"'})
    assert stale.status_code == 412, stale.text


@pytest.mark.parametrize("count", ["\u00b2", "9" * 5000], ids=["superscript-two", "5000-digits"])
def test_a_count_that_is_not_a_small_ascii_number_is_a_400_or_capped(
    open_server: Live, count: str
) -> None:
    answer = open_server.http.get("Patient", params={"_count": count})
    assert answer.status_code in (200, 400), answer.text


# -- with authorization: no valid token, nothing reachable --------------------------------

GARBAGE_AUTHORIZATION = st.sampled_from(
    (
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer x",
        "bearer 0000",
        "Basic dXNlcjpwYXNz",
        "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.",
        "Bearer " + "A" * 2000,
        "Token abc",
    )
) | header_text.map(lambda t: f"Bearer {t}")


def _without_valid_token(live: Live, request: Request, authorization: str | None) -> None:
    if authorization is not None:
        request = Request(
            request.method,
            request.path,
            request.query,
            (*request.headers, ("authorization", authorization)),
            request.body,
        )
    response = check_answer(live, request)
    public = any(request.path.split("?")[0].rstrip("/") == p.lstrip("/") for p in PUBLIC_PATHS)
    if 200 <= response.status_code < 300:  # (a 307 only adds or drops a trailing slash)
        assert public, f"{response.status_code} without a token for {request.describe()}"
    if response.status_code == 401:
        assert response.headers.get("www-authenticate", "").startswith("Bearer"), response.headers


@fuzz
@given(request=fhir_requests(), authorization=GARBAGE_AUTHORIZATION)
@example(request=Request("GET", "Patient/fz-p1"), authorization=None)
@example(
    request=Request(
        "POST",
        "Patient",
        body=b'{"resourceType":"Patient"}',
        headers=(("content-type", FHIR_JSON),),
    ),
    authorization="Bearer nope",
)
def test_requests_without_a_valid_token_are_refused_with_an_operation_outcome(
    guarded_server: Live, request: Request, authorization: str | None
) -> None:
    _without_valid_token(guarded_server, request, authorization)


def test_openapi_operations_without_a_valid_token_are_refused(guarded_server: Live) -> None:
    operations = openapi_operations(guarded_server)

    @fuzz
    @given(request=openapi_requests(operations), authorization=GARBAGE_AUTHORIZATION)
    def fuzz_operations(request: Request, authorization: str | None) -> None:
        _without_valid_token(guarded_server, request, authorization)

    fuzz_operations()
    refused = guarded_server.statuses.get(401, 0)
    assert refused > 0, f"no request was answered 401: {guarded_server.statuses}"
