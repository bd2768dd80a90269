"""Slot generation: a clinic's weekly opening hours -> a Schedule and its free Slots.

A *template* (JSON) says, once, when each provider sees patients at each clinic; ``mhs-fhir
schedule generate --template FILE --from DATE --days N`` turns it into the FHIR resources a
portal books against: one ``Schedule`` per clinic and provider (created when missing) and one
free ``Slot`` per opening for every day of the range. It writes through the interactions layer
(validation, indexing, history and audit like any write), one transaction per schedule and day.

Template format
---------------
::

    {
      "timezone": "America/New_York",
      "clinics": [
        {
          "name": "family-medicine",
          "location": {"id": "demo-clinic-fm"},
          "healthcareService": {"identifier": "http://fhir.mhs-fhir.example/sid/clinic|FM-01"},
          "organization": {"id": "demo-mtf"},
          "timezone": "America/New_York"
        }
      ],
      "providers": [
        {"name": "reyes", "practitioner": {"id": "demo-pcm"}}
      ],
      "schedules": [
        {
          "id": "demo-pcm-fm",
          "clinic": "family-medicine",
          "provider": "reyes",
          "serviceType": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/service-type",
                                      "code": "124", "display": "General Practice"}]},
          "specialty": {"text": "Family medicine"},
          "appointmentType": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0276",
                                          "code": "ROUTINE"}]},
          "slotMinutes": 20,
          "hours": [
            {"days": ["mon", "tue", "wed", "thu", "fri"], "open": "08:00", "close": "12:00"},
            {"days": ["mon", "wed"], "open": "13:00", "close": "16:00"}
          ],
          "closed": ["2027-01-01"]
        }
      ]
    }

- ``timezone`` (optional, default ``UTC``): the IANA zone opening hours are read in; a clinic
  may name its own. Slot times are written with that zone's offset (``08:00:00-05:00``).
- ``clinics``: each has a unique ``name`` (used only inside the template) and names existing
  resources by ``{"id": "..."}`` or ``{"identifier": "system|value"}`` (exactly one match):
  ``location`` (Location) and/or ``healthcareService`` (HealthcareService), at least one of
  the two, which become the Schedule's actors; ``organization`` (Organization, optional) is
  only checked to exist: R4 does not allow an Organization as a Schedule actor (reach its
  schedules through ``Location.managingOrganization`` or ``HealthcareService.providedBy``).
- ``providers``: a unique ``name`` and the ``practitioner`` (Practitioner) it means.
- ``schedules``: ``clinic`` (a clinic's name), ``provider`` (a provider's name; optional, for a
  clinic-wide schedule), ``id`` (the Schedule's id; default ``<clinic>-<provider>``),
  ``serviceType`` / ``specialty`` (a CodeableConcept or a list of them; copied to the Schedule
  and every Slot), ``appointmentType`` (a CodeableConcept, on every Slot), ``comment``,
  ``slotMinutes`` (5 to 480), ``hours`` (blocks of ``days`` among ``mon`` .. ``sun``, ``open``
  and ``close`` as ``HH:MM`` local time; blocks of one weekday must not overlap; a block holds
  as many whole slots as fit) and ``closed`` (dates without slots, e.g. holidays).

Unknown keys are errors (a typo must not silently drop opening hours).

What generation does
--------------------
- The Schedule ``<id>`` is created when missing (with identifier
  ``http://fhir.mhs-fhir.example/sid/schedule|<id>``); an existing one is left as it is.
- Each Slot carries the identifier ``http://fhir.mhs-fhir.example/sid/slot|<schedule id>-<UTC
  start as YYYYMMDDHHMM>`` and has that value as its id (a hash of it when longer than the
  64 characters of a FHIR id). A slot is created only when no Slot has that id (not even a
  deleted one: a slot removed by the clinic is not brought back) and no existing Slot of the
  schedule overlaps it (one added by hand, or made from an earlier template). Existing Slots
  are never changed: a booked (busy) slot stays booked, and a second run creates nothing.
- Local times that do not exist (the hour skipped when daylight saving time starts) get no
  slot; a time that happens twice (when it ends) gets one, at its first occurrence.

:func:`parse_template` and :func:`plan_slots` are pure (template -> resources);
:func:`generate` resolves the names and writes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from itertools import pairwise
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from fhir_server.clock import parse_instant
from fhir_server.errors import FhirError
from fhir_server.interactions.common import conditional_matches
from fhir_server.interactions.context import Context, Preconditions
from fhir_server.interactions.create import create
from fhir_server.interactions.search import search
from fhir_server.interactions.update import update
from fhir_server.resource_json import ID_PATTERN

SLOT_SYSTEM = "http://fhir.mhs-fhir.example/sid/slot"
SCHEDULE_SYSTEM = "http://fhir.mhs-fhir.example/sid/schedule"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MIN_SLOT_MINUTES = 5
MAX_SLOT_MINUTES = 480
MAX_DAYS = 366
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$|^24:00$")
_MAX_ID = 64


class TemplateError(ValueError):
    """A template that cannot be used, saying where (``schedules[0].hours[1].open``)."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}" if where else message)
        self.where = where


class GenerationError(ValueError):
    """Generation stopped: a name of the template does not resolve, or a write was refused."""


# -- the template ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ref:
    """An existing resource the template names, by id or by a business identifier."""

    type: str
    id: str | None = None
    system: str | None = None
    value: str | None = None

    def __str__(self) -> str:
        if self.id is not None:
            return f"{self.type}/{self.id}"
        token = self.value if self.system is None else f"{self.system}|{self.value}"
        return f"{self.type}?identifier={token}"


@dataclass(frozen=True, slots=True)
class Clinic:
    name: str
    location: Ref | None
    service: Ref | None
    organization: Ref | None
    zone: tzinfo


@dataclass(frozen=True, slots=True)
class Provider:
    name: str
    practitioner: Ref


@dataclass(frozen=True, slots=True)
class Hours:
    """One block of opening hours: the weekdays (0 = Monday) and local open/close times."""

    days: frozenset[int]
    open: time
    close: time  # time.max stands for 24:00


@dataclass(frozen=True, slots=True)
class ScheduleSpec:
    """One Schedule of the template: a clinic, maybe a provider, and its weekly hours."""

    id: str
    clinic: Clinic
    provider: Provider | None
    slot_minutes: int
    hours: tuple[Hours, ...]
    service_type: tuple[dict[str, Any], ...] = ()
    specialty: tuple[dict[str, Any], ...] = ()
    appointment_type: dict[str, Any] | None = None
    comment: str | None = None
    closed: frozenset[date] = frozenset()


@dataclass(frozen=True, slots=True)
class Template:
    clinics: tuple[Clinic, ...]
    providers: tuple[Provider, ...]
    schedules: tuple[ScheduleSpec, ...]


def _object(value: Any, where: str, allowed: Iterable[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TemplateError(where, "must be a JSON object")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise TemplateError(where, f"unknown key {unknown[0]!r} (allowed: {', '.join(allowed)})")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise TemplateError(where, "must be a JSON array")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TemplateError(where, "must be a non-empty string")
    return value


def _zone(value: Any, where: str) -> tzinfo:
    name = _text(value, where)
    if name.upper() in ("UTC", "Z", "ETC/UTC"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise TemplateError(where, f"{name!r} is not a known IANA time zone") from None


def _ref(value: Any, where: str, type: str) -> Ref:
    data = _object(value, where, ("id", "identifier"))
    if ("id" in data) == ("identifier" in data):
        raise TemplateError(where, 'give exactly one of "id" and "identifier"')
    if "id" in data:
        id = _text(data["id"], f"{where}.id")
        if not ID_PATTERN.match(id):
            raise TemplateError(f"{where}.id", f"{id!r} is not a valid FHIR id")
        return Ref(type, id=id)
    token = _text(data["identifier"], f"{where}.identifier")
    system, bar, code = token.rpartition("|")
    if not code:
        raise TemplateError(f"{where}.identifier", 'must be "system|value" (or "value")')
    return Ref(type, system=system if bar else None, value=code)


def _concepts(value: Any, where: str) -> tuple[dict[str, Any], ...]:
    items = value if isinstance(value, list) else [value]
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not item:
            raise TemplateError(
                f"{where}[{index}]" if isinstance(value, list) else where,
                "must be a CodeableConcept (a JSON object with coding and/or text)",
            )
    return tuple(items)


def _clock(value: Any, where: str) -> time:
    text = _text(value, where)
    if not _HHMM.match(text):
        raise TemplateError(where, f'{text!r} is not a time like "08:30"')
    if text == "24:00":
        return time.max
    return time(int(text[:2]), int(text[3:]))


def _hours(value: Any, where: str) -> Hours:
    data = _object(value, where, ("days", "open", "close"))
    days: set[int] = set()
    for index, day in enumerate(_list(data.get("days"), f"{where}.days")):
        name = str(day).lower()[:3] if isinstance(day, str) else ""
        if name not in WEEKDAYS:
            raise TemplateError(f"{where}.days[{index}]", f"{day!r} is not one of {WEEKDAYS}")
        days.add(WEEKDAYS.index(name))
    if not days:
        raise TemplateError(f"{where}.days", "names no day")
    opens, closes = (
        _clock(data.get("open"), f"{where}.open"),
        _clock(data.get("close"), f"{where}.close"),
    )
    if closes <= opens:
        raise TemplateError(where, "close must be after open")
    return Hours(frozenset(days), opens, closes)


def _minutes(moment: time) -> int:
    return 24 * 60 if moment == time.max else moment.hour * 60 + moment.minute


def _check_overlaps(hours: Sequence[Hours], where: str) -> None:
    for day in range(7):
        blocks = sorted(
            (_minutes(h.open), _minutes(h.close), i) for i, h in enumerate(hours) if day in h.days
        )
        for (_, end, first), (start, _, second) in pairwise(blocks):
            if start < end:
                raise TemplateError(
                    where,
                    f"blocks {first} and {second} overlap on {WEEKDAYS[day]}",
                )


def parse_template(data: Any) -> Template:
    """Check a template (the parsed JSON) and return it typed; raise TemplateError saying
    where the first problem is."""
    root = _object(data, "", ("timezone", "clinics", "providers", "schedules", "description"))
    zone = _zone(root["timezone"], "timezone") if "timezone" in root else UTC
    clinics: dict[str, Clinic] = {}
    for index, raw in enumerate(_list(root.get("clinics", []), "clinics")):
        where = f"clinics[{index}]"
        item = _object(
            raw, where, ("name", "location", "healthcareService", "organization", "timezone")
        )
        name = _text(item.get("name"), f"{where}.name")
        if name in clinics:
            raise TemplateError(f"{where}.name", f"clinic {name!r} is named twice")
        location = (
            _ref(item["location"], f"{where}.location", "Location") if "location" in item else None
        )
        service = (
            _ref(item["healthcareService"], f"{where}.healthcareService", "HealthcareService")
            if "healthcareService" in item
            else None
        )
        if location is None and service is None:
            raise TemplateError(where, "needs a location or a healthcareService (or both)")
        organization = (
            _ref(item["organization"], f"{where}.organization", "Organization")
            if "organization" in item
            else None
        )
        own_zone = _zone(item["timezone"], f"{where}.timezone") if "timezone" in item else zone
        clinics[name] = Clinic(name, location, service, organization, own_zone)
    providers: dict[str, Provider] = {}
    for index, raw in enumerate(_list(root.get("providers", []), "providers")):
        where = f"providers[{index}]"
        item = _object(raw, where, ("name", "practitioner"))
        name = _text(item.get("name"), f"{where}.name")
        if name in providers:
            raise TemplateError(f"{where}.name", f"provider {name!r} is named twice")
        if "practitioner" not in item:
            raise TemplateError(where, "needs a practitioner")
        providers[name] = Provider(
            name, _ref(item["practitioner"], f"{where}.practitioner", "Practitioner")
        )
    schedules: list[ScheduleSpec] = []
    seen: set[str] = set()
    raw_schedules = _list(root.get("schedules"), "schedules")
    if not raw_schedules:
        raise TemplateError("schedules", "names no schedule")
    for index, raw in enumerate(raw_schedules):
        schedules.append(_schedule(raw, f"schedules[{index}]", clinics, providers, seen))
    return Template(tuple(clinics.values()), tuple(providers.values()), tuple(schedules))


def _schedule(
    raw: Any,
    where: str,
    clinics: Mapping[str, Clinic],
    providers: Mapping[str, Provider],
    seen: set[str],
) -> ScheduleSpec:
    item = _object(
        raw,
        where,
        (
            "id",
            "clinic",
            "provider",
            "serviceType",
            "specialty",
            "appointmentType",
            "comment",
            "slotMinutes",
            "hours",
            "closed",
        ),
    )
    clinic_name = _text(item.get("clinic"), f"{where}.clinic")
    if clinic_name not in clinics:
        raise TemplateError(f"{where}.clinic", f"no clinic is named {clinic_name!r}")
    provider: Provider | None = None
    if "provider" in item:
        provider_name = _text(item["provider"], f"{where}.provider")
        if provider_name not in providers:
            raise TemplateError(f"{where}.provider", f"no provider is named {provider_name!r}")
        provider = providers[provider_name]
    default_id = clinic_name if provider is None else f"{clinic_name}-{provider.name}"
    id = _text(item.get("id", default_id), f"{where}.id")
    if not ID_PATTERN.match(id):
        raise TemplateError(f"{where}.id", f"{id!r} is not a valid FHIR id ([A-Za-z0-9-.]{{1,64}})")
    if id in seen:
        raise TemplateError(f"{where}.id", f"schedule {id!r} appears twice")
    seen.add(id)
    minutes = item.get("slotMinutes")
    if (
        not isinstance(minutes, int)
        or isinstance(minutes, bool)
        or not MIN_SLOT_MINUTES <= minutes <= MAX_SLOT_MINUTES
    ):
        raise TemplateError(
            f"{where}.slotMinutes",
            f"must be a whole number of minutes from {MIN_SLOT_MINUTES} to {MAX_SLOT_MINUTES}",
        )
    hours = tuple(
        _hours(block, f"{where}.hours[{i}]")
        for i, block in enumerate(_list(item.get("hours"), f"{where}.hours"))
    )
    if not hours:
        raise TemplateError(f"{where}.hours", "names no opening hours")
    _check_overlaps(hours, f"{where}.hours")
    closed: set[date] = set()
    for index, day in enumerate(_list(item.get("closed", []), f"{where}.closed")):
        try:
            closed.add(date.fromisoformat(_text(day, f"{where}.closed[{index}]")))
        except ValueError:
            raise TemplateError(f"{where}.closed[{index}]", f"{day!r} is not a date") from None
    appointment_type = None
    if "appointmentType" in item:
        if isinstance(item["appointmentType"], list):
            raise TemplateError(f"{where}.appointmentType", "must be one CodeableConcept")
        appointment_type = _concepts(item["appointmentType"], f"{where}.appointmentType")[0]
    comment = _text(item["comment"], f"{where}.comment") if "comment" in item else None
    return ScheduleSpec(
        id=id,
        clinic=clinics[clinic_name],
        provider=provider,
        slot_minutes=minutes,
        hours=hours,
        service_type=_concepts(item["serviceType"], f"{where}.serviceType")
        if "serviceType" in item
        else (),
        specialty=_concepts(item["specialty"], f"{where}.specialty") if "specialty" in item else (),
        appointment_type=appointment_type,
        comment=comment,
        closed=frozenset(closed),
    )


# -- template -> resources (pure) ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlannedSlot:
    """A Slot the template asks for: its id, identifier value, times and document."""

    id: str
    key: str
    day: date
    start: datetime
    end: datetime
    document: dict[str, Any]


def slot_key(schedule_id: str, start: datetime) -> str:
    """The identifier value of a generated slot: ``<schedule id>-<UTC start YYYYMMDDHHMM>``."""
    return f"{schedule_id}-{start.astimezone(UTC):%Y%m%d%H%M}"


def slot_id(key: str) -> str:
    """The Slot id for an identifier value: the value itself when it is a valid id."""
    if len(key) <= _MAX_ID and ID_PATTERN.match(key):
        return key
    return "slot-" + hashlib.sha256(key.encode()).hexdigest()[:40]


def fhir_instant(moment: datetime) -> str:
    """``2027-01-04T08:00:00-05:00`` (``Z`` for UTC): seconds precision, the local offset."""
    text = moment.isoformat(timespec="seconds")
    return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text


def _describe_hours(hours: Sequence[Hours]) -> str:
    parts = []
    for block in hours:
        days = ",".join(WEEKDAYS[d].capitalize() for d in sorted(block.days))
        close = "24:00" if block.close == time.max else f"{block.close:%H:%M}"
        parts.append(f"{days} {block.open:%H:%M}-{close}")
    return "; ".join(parts)


def schedule_resource(spec: ScheduleSpec, actors: Sequence[str]) -> dict[str, Any]:
    """The Schedule for ``spec``; ``actors`` are the resolved references (``Type/id``)."""
    document: dict[str, Any] = {
        "resourceType": "Schedule",
        "id": spec.id,
        "identifier": [{"system": SCHEDULE_SYSTEM, "value": spec.id}],
        "active": True,
    }
    if spec.service_type:
        document["serviceType"] = list(spec.service_type)
    if spec.specialty:
        document["specialty"] = list(spec.specialty)
    document["actor"] = [{"reference": actor} for actor in actors]
    comment = f"Weekly hours: {_describe_hours(spec.hours)}; {spec.slot_minutes}-minute slots."
    document["comment"] = f"{spec.comment} ({comment})" if spec.comment else comment
    return document


def _local(day: date, moment: time, zone: tzinfo) -> datetime | None:
    """``day`` at wall-clock ``moment`` in ``zone``; None when that time does not exist."""
    naive = datetime.combine(day, moment)
    aware = naive.replace(tzinfo=zone)
    if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
        return None  # skipped when daylight saving time starts
    return aware


def plan_slots(spec: ScheduleSpec, first: date, days: int) -> list[PlannedSlot]:
    """Every slot ``spec`` opens on ``first`` and the ``days - 1`` days after it, by start."""
    if not 1 <= days <= MAX_DAYS:
        raise ValueError(f"days must be from 1 to {MAX_DAYS}, not {days}")
    zone = spec.clinic.zone
    length = timedelta(minutes=spec.slot_minutes)
    out: list[PlannedSlot] = []
    common: dict[str, Any] = {}
    if spec.service_type:
        common["serviceType"] = list(spec.service_type)
    if spec.specialty:
        common["specialty"] = list(spec.specialty)
    if spec.appointment_type is not None:
        common["appointmentType"] = spec.appointment_type
    for offset in range(days):
        day = first + timedelta(days=offset)
        if day in spec.closed:
            continue
        for block in spec.hours:
            if day.weekday() not in block.days:
                continue
            minute, close = _minutes(block.open), _minutes(block.close)
            while minute + spec.slot_minutes <= close:
                wall = time(minute // 60, minute % 60)
                minute += spec.slot_minutes
                start = _local(day, wall, zone)
                if start is None:
                    continue
                end = (start.astimezone(UTC) + length).astimezone(zone)
                key = slot_key(spec.id, start)
                document = {
                    "resourceType": "Slot",
                    "identifier": [{"system": SLOT_SYSTEM, "value": key}],
                    **common,
                    "schedule": {"reference": f"Schedule/{spec.id}"},
                    "status": "free",
                    "start": fhir_instant(start),
                    "end": fhir_instant(end),
                }
                out.append(PlannedSlot(slot_id(key), key, day, start, end, document))
    out.sort(key=lambda s: s.start)
    return out


# -- writing ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Report:
    """What a generation run did (or, dry, would do)."""

    schedules_created: int = 0
    schedules_existing: int = 0
    slots_created: int = 0
    slots_existing: int = 0
    slots_overlapping: int = 0
    dry_run: bool = False
    created_by_schedule: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        verb = "would create" if self.dry_run else "created"
        return (
            f"{verb} {self.schedules_created} schedules ({self.schedules_existing} existed) and"
            f" {self.slots_created} slots; {self.slots_existing} slots existed already,"
            f" {self.slots_overlapping} overlapped existing slots"
        )


async def resolve(ctx: Context, ref: Ref, *, named_by: str) -> str:
    """``Type/id`` of the one live resource ``ref`` names; GenerationError otherwise."""
    if ref.id is not None:
        current = await ctx.current(ref.type, ref.id)
        if current is None or current.deleted:
            raise GenerationError(f"{ref} (named by {named_by}) is not known")
        return f"{ref.type}/{ref.id}"
    token = ref.value if ref.system is None else f"{ref.system}|{ref.value}"
    matches = await conditional_matches(ctx, ref.type, urlencode({"identifier": token}))
    if len(matches) != 1:
        found = "no" if not matches else "more than one"
        raise GenerationError(f"{ref} (named by {named_by}) matches {found} {ref.type}")
    return f"{ref.type}/{matches[0].id}"


async def _actors(ctx: Context, spec: ScheduleSpec, cache: dict[Ref, str]) -> list[str]:
    """The Schedule's actors (provider, location, service), each checked to exist; the
    clinic's organization is checked too but is no actor (R4 does not allow it)."""
    clinic = spec.clinic
    named: list[tuple[Ref | None, str]] = [
        (clinic.location, f"clinic {clinic.name!r}"),
        (clinic.service, f"clinic {clinic.name!r}"),
        (clinic.organization, f"clinic {clinic.name!r}"),
    ]
    if spec.provider is not None:
        named.insert(0, (spec.provider.practitioner, f"provider {spec.provider.name!r}"))
    actors = []
    for ref, named_by in named:
        if ref is None:
            continue
        if ref not in cache:
            cache[ref] = await resolve(ctx, ref, named_by=named_by)
        if ref.type != "Organization":
            actors.append(cache[ref])
    return actors


async def _existing_slots(
    ctx: Context, schedule_id: str, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    """Slots of the schedule starting in [since, until) (at most the page size)."""
    params = [
        ("schedule", f"Schedule/{schedule_id}"),
        ("start", f"ge{fhir_instant(since.astimezone(UTC))}"),
        ("start", f"lt{fhir_instant(until.astimezone(UTC))}"),
        ("_count", str(ctx.max_count)),
    ]
    outcome = await search(ctx, types=["Slot"], params=params, strict=True, path="Slot")
    # Matches are embedded as their stored bytes (orjson fragments): read them back.
    bundle: dict[str, Any] = orjson.loads(orjson.dumps(outcome.body or {}))
    if any(link.get("relation") == "next" for link in bundle.get("link", [])):
        raise GenerationError(
            f"Schedule/{schedule_id} has more than {ctx.max_count} slots on one day"
        )
    return [
        e["resource"] for e in bundle.get("entry", []) if e.get("search", {}).get("mode") == "match"
    ]


def _interval(slot: Mapping[str, Any]) -> tuple[datetime, datetime] | None:
    try:
        return parse_instant(str(slot["start"])), parse_instant(str(slot["end"]))
    except (KeyError, ValueError):
        return None


async def _fill_day(
    ctx: Context, spec: ScheduleSpec, planned: Sequence[PlannedSlot], report: Report
) -> None:
    """One transaction: the day's missing slots of one schedule."""
    async with ctx.transaction() as tx:
        since = planned[0].start - timedelta(days=1)  # a long slot from the day before
        until = planned[-1].end
        existing = await _existing_slots(tx, spec.id, since, until)
        keys = {
            i.get("value")
            for slot in existing
            for i in slot.get("identifier", [])
            if i.get("system") == SLOT_SYSTEM
        }
        taken = [
            span
            for slot in existing
            if slot.get("status") != "entered-in-error" and (span := _interval(slot)) is not None
        ]
        for slot in planned:
            if slot.key in keys or await tx.current("Slot", slot.id) is not None:
                report.slots_existing += 1
                continue
            if any(start < slot.end and slot.start < end for start, end in taken):
                report.slots_overlapping += 1
                continue
            if not report.dry_run:
                await create(
                    tx, type="Slot", resource=slot.document, pre=Preconditions(), id=slot.id
                )
            report.slots_created += 1
            report.created_by_schedule[spec.id] = report.created_by_schedule.get(spec.id, 0) + 1


async def _ensure_schedule(
    ctx: Context, spec: ScheduleSpec, actors: Sequence[str], report: Report
) -> None:
    current = await ctx.current("Schedule", spec.id)
    if current is not None and not current.deleted:
        report.schedules_existing += 1
        return
    if not report.dry_run:
        resource = schedule_resource(spec, actors)
        await update(ctx, type="Schedule", id=spec.id, resource=resource, pre=Preconditions())
    report.schedules_created += 1


async def generate(
    ctx: Context,
    template: Template,
    first: date,
    days: int,
    *,
    dry_run: bool = False,
    on_day: Callable[[], None] | None = None,
) -> Report:
    """Create what is missing of the template's Schedules and of their Slots from ``first``
    for ``days`` days: one transaction per schedule and day, so an interrupted run leaves
    whole days and a rerun completes it. ``on_day`` is called after each (progress)."""
    if not 1 <= days <= MAX_DAYS:
        raise GenerationError(f"--days must be from 1 to {MAX_DAYS}, not {days}")
    report = Report(dry_run=dry_run)
    cache: dict[Ref, str] = {}
    try:
        for spec in template.schedules:
            actors = await _actors(ctx, spec, cache)
            await _ensure_schedule(ctx, spec, actors, report)
            by_day: dict[date, list[PlannedSlot]] = {}
            for slot in plan_slots(spec, first, days):
                by_day.setdefault(slot.day, []).append(slot)
            for offset in range(days):
                planned = by_day.get(first + timedelta(days=offset))
                if planned:
                    await _fill_day(ctx, spec, planned, report)
                if on_day is not None:
                    on_day()
    except FhirError as error:
        raise GenerationError(f"a write was refused: {error.diagnostics}") from None
    return report
