"""The attack catalogue, writing doors: create, update, patch, delete, their conditional
forms, transaction and batch, and the proxy rules for the teen and the adult spouse. Three
writers (demo-child's patient/*.cruds, the sponsor's user/*.cruds, demo-child's granular
patient/Observation.cruds?category=...|laboratory) try to read, change or place data beyond
their reach; the positive twin shows each working within bounds.

Rules: a resource the token cannot see answers exactly like a missing one (404, or the same
"nothing deleted" outcome); a write whose new content the token could not reach is 403 and
stores nothing; a transaction is all or nothing; a batch refuses entry by entry.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import httpx
import pytest

from fhir_server.cli import _with_store
from fhir_server.interactions.context import Context
from smart_auth.patients import patients_for
from smart_auth.proxy import Link, Reach

from .conftest import (
    DOD_ID,
    FAMILY,
    IDENTIFIER,
    Caller,
    Resource,
    World,
    assert_like_missing,
    caller,
    current,
    fresh_id,
    identifier_of,
    keys,
    masked,
    patient_resource,
    place,
    stored_with,
    written,
)

# -- writes ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Writer:
    """A token that may write, and what lies within and beyond its reach."""

    fixture: str
    own_subject: str
    beyond: Callable[[str | None], Resource]  # a body it may not write
    foreign: str  # an existing Observation it cannot see
    move: list[dict[str, Any]] = field(default_factory=list)  # a patch taking its own away

    def own(self, id: str | None = None) -> Resource:
        return written(id, self.own_subject)


WRITERS = [
    pytest.param(
        Writer(
            "patient_writer",
            "Patient/demo-child",
            lambda id: written(id, "Patient/demo-sponsor"),
            "Observation/demo-ldl",
            [{"op": "replace", "path": "/subject/reference", "value": "Patient/demo-sponsor"}],
        ),
        id="patient-token",
    ),
    pytest.param(
        Writer(
            "proxy_writer",
            "Patient/demo-child",
            lambda id: written(id, "Patient/demo-teen"),
            "Observation/teen-lab",
            [{"op": "replace", "path": "/subject/reference", "value": "Patient/demo-teen"}],
        ),
        id="proxy-token",
    ),
    pytest.param(
        Writer(
            "granular_writer",
            "Patient/demo-child",
            lambda id: written(id, "Patient/demo-child", category="vital-signs"),
            "Observation/child-vitals",
            [{"op": "replace", "path": "/category/0/coding/0/code", "value": "vital-signs"}],
        ),
        id="granular-token",
    ),
]


def _own_placed(system: Caller, writer: Writer) -> Resource:
    """A fresh Observation within the writer's reach, stored by the system."""
    return place(system, writer.own(fresh_id("own")))


@pytest.mark.parametrize("writer", WRITERS)
def test_creating_a_resource_beyond_reach_gets_403_and_stores_nothing(
    request: pytest.FixtureRequest, system: Caller, writer: Writer
) -> None:
    body = writer.beyond(None)
    response = caller(request, writer.fixture).post("Observation", body)
    assert response.status_code == 403, response.text
    assert stored_with(system, identifier_of(body)) == set()


@pytest.mark.parametrize("writer", WRITERS)
def test_creating_a_resource_within_reach_succeeds(
    request: pytest.FixtureRequest, system: Caller, writer: Writer
) -> None:
    body = writer.own()
    response = caller(request, writer.fixture).post("Observation", body)
    assert response.status_code == 201, response.text
    assert stored_with(system, identifier_of(body)) == {f"Observation/{response.json()['id']}"}


@pytest.mark.parametrize("how", ["create", "update", "patch"])
@pytest.mark.parametrize(
    ("fixture", "victim"),
    [
        pytest.param("patient_writer", "Patient/demo-sponsor", id="patient-token"),
        pytest.param("proxy_writer", "Patient/other-mom", id="proxy-token"),
    ],
)
def test_writing_own_resource_so_it_also_names_another_patient_gets_403(
    request: pytest.FixtureRequest, system: Caller, fixture: str, victim: str, how: str
) -> None:
    attacker = caller(request, fixture)
    body = written(fresh_id("own"), "Patient/demo-child")
    performers = [{"reference": victim}]
    if how == "create":
        response = attacker.post("Observation", {**body, "performer": performers})
    else:
        place(system, body)
        if how == "update":
            response = attacker.put(f"Observation/{body['id']}", {**body, "performer": performers})
        else:
            ops = [{"op": "add", "path": "/performer/-", "value": performers[0]}]
            response = attacker.patch(f"Observation/{body['id']}", ops)
    found = system.search(f"{victim}/Observation", ("identifier", identifier_of(body)))
    assert (response.status_code, keys(found)) == (403, set()), response.text


@pytest.mark.parametrize("writer", WRITERS)
def test_updating_own_resource_so_it_moves_beyond_reach_gets_403_and_changes_nothing(
    request: pytest.FixtureRequest, system: Caller, writer: Writer
) -> None:
    own = _own_placed(system, writer)
    moved = writer.beyond(own["id"])
    response = caller(request, writer.fixture).put(f"Observation/{own['id']}", moved)
    assert response.status_code == 403, response.text
    assert current(system, f"Observation/{own['id']}")["meta"]["versionId"] == "1"


@pytest.mark.parametrize("writer", WRITERS)
def test_updating_own_resource_within_reach_succeeds(
    request: pytest.FixtureRequest, system: Caller, writer: Writer
) -> None:
    own = _own_placed(system, writer)
    changed = {**own, "status": "amended"}
    response = caller(request, writer.fixture).put(f"Observation/{own['id']}", changed)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("writer", WRITERS)
def test_updating_a_resource_beyond_reach_gets_404_like_a_missing_one(
    request: pytest.FixtureRequest, system: Caller, writer: Writer
) -> None:
    attacker = caller(request, writer.fixture)
    id = writer.foreign.split("/")[1]
    before = current(system, writer.foreign)["meta"]["versionId"]
    beyond = attacker.put(writer.foreign, writer.own(id))
    missing_id = fresh_id("missing")
    missing = attacker.put(f"Observation/{missing_id}", writer.own(missing_id))
    assert beyond.status_code == 404, beyond.text
    assert_like_missing(beyond, id, missing, missing_id)
    assert current(system, writer.foreign)["meta"]["versionId"] == before


@pytest.mark.parametrize("writer", WRITERS)
def test_a_put_with_a_new_client_chosen_id_gets_404_and_stores_nothing(
    request: pytest.FixtureRequest, system: Caller, writer: Writer
) -> None:
    id = fresh_id("chosen")
    response = caller(request, writer.fixture).put(f"Observation/{id}", writer.own(id))
    assert response.status_code == 404, response.text
    assert system.get(f"Observation/{id}").status_code == 404


def test_a_put_with_a_new_client_chosen_id_works_for_an_unrestricted_token(
    system: Caller,
) -> None:
    id = fresh_id("chosen")
    assert system.put(f"Observation/{id}", written(id, "Patient/demo-child")).status_code == 201


@pytest.mark.parametrize("writer", WRITERS)
def test_patching_a_resource_beyond_reach_gets_404_like_a_missing_one(
    request: pytest.FixtureRequest, system: Caller, writer: Writer
) -> None:
    attacker = caller(request, writer.fixture)
    id = writer.foreign.split("/")[1]
    before = current(system, writer.foreign)["meta"]["versionId"]
    ops = [{"op": "replace", "path": "/status", "value": "entered-in-error"}]
    beyond = attacker.patch(writer.foreign, ops)
    missing = attacker.patch("Observation/no-such-patched", ops)
    assert beyond.status_code == 404, beyond.text
    assert_like_missing(beyond, id, missing, "no-such-patched")
    assert current(system, writer.foreign)["meta"]["versionId"] == before


@pytest.mark.parametrize("writer", WRITERS)
def test_patching_own_resource_so_it_moves_beyond_reach_gets_403_and_changes_nothing(
    request: pytest.FixtureRequest, system: Caller, writer: Writer
) -> None:
    own = _own_placed(system, writer)
    response = caller(request, writer.fixture).patch(f"Observation/{own['id']}", writer.move)
    assert response.status_code == 403, response.text
    assert current(system, f"Observation/{own['id']}")["meta"]["versionId"] == "1"


@pytest.mark.parametrize("writer", WRITERS)
def test_patching_own_resource_within_reach_succeeds(
    request: pytest.FixtureRequest, system: Caller, writer: Writer
) -> None:
    own = _own_placed(system, writer)
    ops = [{"op": "replace", "path": "/status", "value": "amended"}]
    response = caller(request, writer.fixture).patch(f"Observation/{own['id']}", ops)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("writer", WRITERS)
def test_deleting_a_resource_beyond_reach_answers_like_deleting_a_missing_one(
    request: pytest.FixtureRequest, system: Caller, writer: Writer
) -> None:
    attacker = caller(request, writer.fixture)
    id = writer.foreign.split("/")[1]
    beyond = attacker.delete(writer.foreign)
    missing = attacker.delete("Observation/no-such-deleted")
    assert_like_missing(beyond, id, missing, "no-such-deleted")
    assert system.get(writer.foreign).status_code == 200


@pytest.mark.parametrize("writer", WRITERS)
def test_deleting_with_if_match_a_resource_beyond_reach_answers_like_a_missing_one(
    request: pytest.FixtureRequest, system: Caller, writer: Writer
) -> None:
    attacker = caller(request, writer.fixture)
    id = writer.foreign.split("/")[1]
    beyond = attacker.delete(writer.foreign, If_Match='W/"1"')
    missing = attacker.delete("Observation/no-such-deleted", If_Match='W/"1"')
    assert_like_missing(beyond, id, missing, "no-such-deleted")
    assert system.get(writer.foreign).status_code == 200


@pytest.mark.parametrize("writer", WRITERS)
def test_deleting_own_resource_deletes_it(
    request: pytest.FixtureRequest, system: Caller, writer: Writer
) -> None:
    own = _own_placed(system, writer)
    response = caller(request, writer.fixture).delete(f"Observation/{own['id']}")
    assert response.status_code == 200, response.text
    assert system.get(f"Observation/{own['id']}").status_code == 410


# -- conditional create / update / patch / delete -------------------------------------------------


@pytest.mark.parametrize("writer", WRITERS)
def test_if_none_exist_matching_only_a_resource_beyond_reach_neither_returns_nor_reveals_it(
    request: pytest.FixtureRequest, writer: Writer
) -> None:
    attacker = caller(request, writer.fixture)
    id = writer.foreign.split("/")[1]
    beyond = attacker.post("Observation", writer.own(), If_None_Exist=f"_id={id}")
    missing = attacker.post("Observation", writer.own(), If_None_Exist="_id=no-such-obs")
    assert beyond.status_code == missing.status_code == 201, beyond.text
    assert beyond.json()["id"] != id
    assert beyond.json()["subject"]["reference"] == writer.own_subject


@pytest.mark.parametrize("writer", WRITERS)
def test_if_none_exist_matching_own_resource_returns_it(
    request: pytest.FixtureRequest, system: Caller, writer: Writer
) -> None:
    own = _own_placed(system, writer)
    response = caller(request, writer.fixture).post(
        "Observation", writer.own(), If_None_Exist=f"_id={own['id']}"
    )
    assert response.status_code == 200, response.text
    assert response.json()["id"] == own["id"]


@pytest.mark.parametrize("writer", WRITERS)
def test_a_conditional_update_matching_only_a_resource_beyond_reach_leaves_it_alone(
    request: pytest.FixtureRequest, system: Caller, writer: Writer
) -> None:
    attacker = caller(request, writer.fixture)
    id = writer.foreign.split("/")[1]
    before = current(system, writer.foreign)["meta"]["versionId"]
    beyond = attacker.request("PUT", "Observation", params=[("_id", id)], json=writer.own())
    missing = attacker.request(
        "PUT", "Observation", params=[("_id", "no-such-obs")], json=writer.own()
    )
    assert beyond.status_code != 200, beyond.text
    assert beyond.status_code == missing.status_code
    assert current(system, writer.foreign)["meta"]["versionId"] == before


@pytest.mark.parametrize("writer", WRITERS)
def test_a_conditional_update_matching_own_resource_updates_it(
    request: pytest.FixtureRequest, system: Caller, writer: Writer
) -> None:
    own = _own_placed(system, writer)
    body = {**own, "status": "amended"}
    body.pop("meta")
    response = caller(request, writer.fixture).request(
        "PUT", "Observation", params=[("_id", own["id"])], json=body
    )
    assert response.status_code == 200, response.text
    assert current(system, f"Observation/{own['id']}")["status"] == "amended"


@pytest.mark.parametrize("writer", WRITERS)
def test_a_conditional_update_naming_a_resource_beyond_reach_by_id_answers_like_a_missing_id(
    request: pytest.FixtureRequest, writer: Writer
) -> None:
    attacker = caller(request, writer.fixture)
    id = writer.foreign.split("/")[1]
    missing_id = fresh_id("missing")
    criteria = [("identifier", f"{IDENTIFIER}|nothing-matches")]
    beyond = attacker.request("PUT", "Observation", params=criteria, json=writer.own(id))
    missing = attacker.request("PUT", "Observation", params=criteria, json=writer.own(missing_id))
    assert_like_missing(beyond, id, missing, missing_id)


@pytest.mark.parametrize("writer", WRITERS)
def test_a_conditional_patch_matching_only_a_resource_beyond_reach_answers_like_no_match(
    request: pytest.FixtureRequest, system: Caller, writer: Writer
) -> None:
    attacker = caller(request, writer.fixture)
    id = writer.foreign.split("/")[1]
    ops = [{"op": "replace", "path": "/status", "value": "entered-in-error"}]
    beyond = attacker.request(
        "PATCH",
        "Observation",
        params=[("_id", id)],
        content=json.dumps(ops).encode(),
        headers={"content-type": "application/json-patch+json"},
    )
    missing = attacker.request(
        "PATCH",
        "Observation",
        params=[("_id", "no-such-obs")],
        content=json.dumps(ops).encode(),
        headers={"content-type": "application/json-patch+json"},
    )
    assert beyond.status_code == 412, beyond.text
    assert_like_missing(beyond, id, missing, "no-such-obs")
    assert current(system, writer.foreign)["status"] == "final"


@pytest.mark.parametrize("writer", WRITERS)
def test_a_conditional_delete_matching_only_a_resource_beyond_reach_answers_like_no_match(
    request: pytest.FixtureRequest, system: Caller, writer: Writer
) -> None:
    attacker = caller(request, writer.fixture)
    id = writer.foreign.split("/")[1]
    beyond = attacker.request("DELETE", "Observation", params=[("_id", id)])
    missing = attacker.request("DELETE", "Observation", params=[("_id", "no-such-obs")])
    assert_like_missing(beyond, id, missing, "no-such-obs")
    assert system.get(writer.foreign).status_code == 200


@pytest.mark.parametrize("writer", WRITERS)
def test_a_conditional_delete_matching_own_resource_deletes_it(
    request: pytest.FixtureRequest, system: Caller, writer: Writer
) -> None:
    own = _own_placed(system, writer)
    response = caller(request, writer.fixture).request(
        "DELETE", "Observation", params=[("_id", own["id"])]
    )
    assert response.status_code == 200, response.text
    assert system.get(f"Observation/{own['id']}").status_code == 410


# -- transaction and batch ------------------------------------------------------------------------


def _bundle(kind: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def _post(resource: Resource) -> dict[str, Any]:
    return {
        "fullUrl": f"urn:uuid:{fresh_id('x')[2:]}",
        "resource": resource,
        "request": {"method": "POST", "url": resource["resourceType"]},
    }


def _get(path: str) -> dict[str, Any]:
    return {"request": {"method": "GET", "url": path}}


@pytest.mark.parametrize("writer", WRITERS)
def test_a_transaction_with_one_entry_beyond_reach_gets_403_and_stores_nothing(
    request: pytest.FixtureRequest, system: Caller, writer: Writer
) -> None:
    fine, forbidden = writer.own(), writer.beyond(None)
    response = caller(request, writer.fixture).post(
        "", _bundle("transaction", _post(fine), _post(forbidden))
    )
    assert response.status_code == 403, response.text
    assert "Bundle.entry[1]" in response.json()["issue"][0]["diagnostics"]
    assert stored_with(system, identifier_of(fine)) == set()
    assert stored_with(system, identifier_of(forbidden)) == set()


@pytest.mark.parametrize("writer", WRITERS)
def test_a_transaction_within_reach_stores_every_entry(
    request: pytest.FixtureRequest, system: Caller, writer: Writer
) -> None:
    first, second = writer.own(), writer.own()
    response = caller(request, writer.fixture).post(
        "", _bundle("transaction", _post(first), _post(second))
    )
    assert response.status_code == 200, response.text
    assert len(stored_with(system, identifier_of(first))) == 1
    assert len(stored_with(system, identifier_of(second))) == 1


def test_a_transactions_conditional_reference_to_another_patient_fails_like_an_unknown_one(
    patient_writer: Caller,
) -> None:
    def attempt(dod_id: str) -> httpx.Response:
        body = written(None, f"Patient?identifier={DOD_ID}|{dod_id}")
        return patient_writer.post("", _bundle("transaction", _post(body)))

    beyond, missing = attempt("1234567890"), attempt("0000000000")
    assert beyond.status_code == 400, beyond.text
    assert_like_missing(beyond, "1234567890", missing, "0000000000")


def test_a_transactions_conditional_reference_to_own_patient_resolves(
    patient_writer: Caller, system: Caller
) -> None:
    body = written(None, f"Patient?identifier={DOD_ID}|1234567892")
    response = patient_writer.post("", _bundle("transaction", _post(body)))
    assert response.status_code == 200, response.text
    [key] = stored_with(system, identifier_of(body))
    assert current(system, key)["subject"]["reference"] == "Patient/demo-child"


def test_a_transactions_if_none_exist_on_another_patients_resource_does_not_return_it(
    patient_writer: Caller,
) -> None:
    entry = _post(written(None, "Patient/demo-child"))
    entry["request"]["ifNoneExist"] = "_id=demo-ldl"
    response = patient_writer.post("", _bundle("transaction", entry))
    assert response.status_code == 200, response.text
    [result] = response.json()["entry"]
    assert result["response"]["status"].startswith("201")
    assert "demo-ldl" not in json.dumps(result)


@pytest.mark.parametrize("writer", WRITERS)
def test_a_batch_refuses_only_the_entries_beyond_reach(
    request: pytest.FixtureRequest, system: Caller, writer: Writer
) -> None:
    fine, forbidden = writer.own(), writer.beyond(None)
    response = caller(request, writer.fixture).post(
        "",
        _bundle(
            "batch",
            _get("Observation/child-lab"),
            _get(writer.foreign),
            _post(forbidden),
            _post(fine),
        ),
    )
    assert response.status_code == 200, response.text
    statuses = [e["response"]["status"].split()[0] for e in response.json()["entry"]]
    assert statuses == ["200", "404", "403", "201"]
    assert len(stored_with(system, identifier_of(fine))) == 1
    assert stored_with(system, identifier_of(forbidden)) == set()


def test_a_batch_entry_reading_another_patients_resource_answers_like_a_missing_one(
    patient: Caller,
) -> None:
    response = patient.post(
        "", _bundle("batch", _get("Observation/demo-ldl"), _get("Observation/no-such-ldl"))
    )
    beyond, missing = response.json()["entry"]
    assert json.loads(masked(json.dumps(beyond), ("demo-ldl", "no-such-ldl"))) == json.loads(
        masked(json.dumps(missing), ("demo-ldl", "no-such-ldl"))
    )


def test_a_batch_search_entry_returns_only_resources_within_reach(patient: Caller) -> None:
    response = patient.post("", _bundle("batch", _get("Observation?_id=demo-ldl,child-lab")))
    [entry] = response.json()["entry"]
    assert keys(entry["resource"]) == {"Observation/child-lab"}


# -- the teen and the adult spouse ----------------------------------------------------------------


def test_a_proxy_may_book_an_appointment_for_the_teen(proxy_writer: Caller) -> None:
    body = {
        "resourceType": "Appointment",
        "status": "proposed",
        "participant": [{"actor": {"reference": "Patient/demo-teen"}, "status": "needs-action"}],
    }
    assert proxy_writer.post("Appointment", body).status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            {
                "resourceType": "MedicationRequest",
                "status": "active",
                "intent": "order",
                "medicationCodeableConcept": {"text": "x"},
                "subject": {"reference": "Patient/demo-teen"},
            },
            id="teen-prescription",
        ),
        pytest.param(
            {
                "resourceType": "Appointment",
                "status": "proposed",
                "participant": [
                    {"actor": {"reference": "Patient/demo-spouse"}, "status": "needs-action"}
                ],
            },
            id="spouse-appointment",
        ),
    ],
)
def test_a_proxy_cannot_write_beyond_the_teens_limits_or_for_the_adult_spouse(
    proxy_writer: Caller, body: Resource
) -> None:
    assert proxy_writer.post(body["resourceType"], body).status_code == 403


def test_the_teens_reach_ends_on_the_eighteenth_birthday(world: World) -> None:
    today = time.strftime("%Y-%m-%d", time.gmtime())
    adult_today = f"{int(today[:4]) - 18}{today[4:]}"
    links = tuple(link for link in FAMILY if link.patient_id != "demo-teen")
    sponsor = world.caller(
        "proxy", "user/*.rs", links=(*links, Link("demo-teen", "dependent", adult_today))
    )
    assert sponsor.get("Patient/demo-teen").status_code == 404


def _login_reach(world: World, dod_id: str) -> dict[str, Reach]:
    """Whom the holder of ``dod_id`` may act for at their next sign-in (the patient picker's
    own lookup, smart_auth.patients.patients_for, on the live database)."""

    async def work(ctx: Context) -> list[Any]:
        return await patients_for(ctx, dod_id, date.today())

    return {a.patient_id: a.reach for a in _with_store(world.database_url, world.base_url, work)}


def _younger_birth_date(body: Resource) -> None:
    body["birthDate"] = f"{date.today().year - 5}-01-01"


def _sponsors_dod_id(body: Resource) -> None:
    body["identifier"].append({"system": DOD_ID, "value": "1234567890"})


@pytest.mark.parametrize(
    "rewrite",
    [
        pytest.param(_younger_birth_date, id="younger-birth-date"),
        pytest.param(_sponsors_dod_id, id="sponsors-dod-id"),
    ],
)
def test_a_limited_proxy_cannot_rewrite_the_facts_that_limit_its_reach(
    world: World, system: Caller, rewrite: Callable[[Resource], None]
) -> None:
    teen_id, born = fresh_id("teen"), f"{date.today().year - 15}-01-01"
    place(system, patient_resource(teen_id, "Garcia", "Sam", born, teen_id[-10:]))
    place(
        system,
        {
            "resourceType": "RelatedPerson",
            "id": fresh_id("rp"),
            "patient": {"reference": f"Patient/{teen_id}"},
            "identifier": [{"system": DOD_ID, "value": "1234567890"}],
            "relationship": [{"text": "father"}],
        },
    )
    assert _login_reach(world, "1234567890")[teen_id] is Reach.LIMITED  # the twin: before
    sponsor = world.caller(
        "proxy",
        "patient/*.cruds",
        patient=teen_id,
        links=(*FAMILY, Link(teen_id, "dependent", born)),
    )
    body = current(system, f"Patient/{teen_id}")
    body.pop("meta")
    rewrite(body)
    sponsor.put(f"Patient/{teen_id}", body)
    assert _login_reach(world, "1234567890")[teen_id] is Reach.LIMITED
