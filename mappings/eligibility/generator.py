"""Synthetic DEERS-style eligibility extracts: realistic, deterministic per seed, streaming.

:func:`generate` yields raw records (layout field name -> text, as :mod:`writers` writes and the
readers accept), family by family, in constant memory; :func:`generate_file` writes a whole
extract; :func:`corrupt` damages one field of a record, for the readers' tests. The contract:
every generated record passes :func:`mappings.eligibility.records.check`.

Nothing here is real data, and nothing can be mistaken for it:

- SSNs are in areas 900-999, which the SSA never issues; phone numbers are 555-0100..0199
  (reserved for fiction) or made-up foreign numbers; e-mail domains are ``example.*``.
- DMIS ids (enrollment sites) are made up; the cities are real towns near installations.
- DoD IDs (EDIPIs) and DBN family prefixes come from keyed bijections of a person / family
  counter (a Feistel network, cycle-walked into range), so they look random, are unique within
  an extract, and depend only on the seed. DoD IDs are 10 digits not starting with 0.

Families (one sponsor and the people whose ``sponsor_dod_id`` is the sponsor's):

- Sponsors: ADSM (duty AD, E/W/O pay grades fitting age and service years, Prime or Prime
  Remote), GRD (Selected Reserve SR with Reserve Select or nothing, or Active Guard/Reserve AG
  with Prime), RET (retired RT, or Retired Reserve RR under 60 with Retired Reserve or nothing),
  VET (discharged DS, no TRICARE plan, no family in the extract), MOH (DS or RT). A survivor
  family's sponsor is deceased: a RET or ADSM record whose eligibility ended on the death date.
- Family members: ADFM / GRDFM / RETFM / MOH by the sponsor's category, SURV for survivors, and
  FMSP for a retiree's former spouse (relationship OT, own address). Spouses in most families,
  children 0-25 (about 1 in 10 with a spouse is a stepchild, a few are wards), now and then a
  dependent parent (never a TRICARE plan).
- Branch is carried on every family member (it is "the sponsor's branch"); pay grade and duty
  status only on the sponsor's own record. USPHS and NOAA sponsors are officers; Space Force and
  Air Force have no warrant officers here; Guard/Reserve come from the branches that have them.
- Plans by category and age: TFL only from 65; TYA only for children 21-25 (ending at 26);
  Prime / Prime Remote always with an enrollment site, usually with a PCM. A child's
  eligibility ends at 21 (23 for a student, 26 under TYA); an adult child whose eligibility
  ended has no plan.
- DBN: the family's 9-digit prefix, then a 2-digit person suffix: ``00`` the sponsor, ``01`` the
  spouse, ``02``.. the children (including step-children and wards) oldest first, then a
  dependent parent, then a former spouse.

Later in the stream than a family's adds (``A``), some families get changes (``C``: a full new
record for the same person, e.g. a move, a plan change, a promotion, new contact details, a
survivor conversion) and terminations (``T``: the record with its eligibility end; separation,
leaving the Selected Reserve, divorce, death). Record timestamps strictly increase from
``start`` (06:00 UTC), 1-20 seconds apart; ages, plans and dates are reckoned as of ``start``
(the age rules hold for streams shorter than four months: about a million records).
"""

from __future__ import annotations

import heapq
import random
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

from mappings.eligibility.codes import PAY_GRADES
from mappings.eligibility.layout import layout
from mappings.eligibility.writers import FORMATS, write

DEFAULT_START = date(2026, 10, 1)
"""The default ``start``: the first day of fiscal year 2027 (Prime enrollment follows it)."""

Record = dict[str, str]

_M64 = (1 << 64) - 1
_EDIPI_BASE = 1_000_000_000
_EDIPI_SPACE = 9_000_000_000  # 1000000000..9999999999
_DBN_SPACE = 1_000_000_000  # the 9-digit family prefix
_SSN_SPACE = 100 * 99 * 9999  # area 900-999, group 01-99, serial 0001-9999


def _mix64(z: int) -> int:
    """SplitMix64's finaliser: a fast, well-mixed 64-bit hash of an integer."""
    z = (z + 0x9E3779B97F4A7C15) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


class _Permutation:
    """A keyed bijection of ``range(size)``: a 4-round balanced Feistel network over the
    smallest even number of bits that holds ``size``, cycle-walked back into range."""

    def __init__(self, size: int, key: int) -> None:
        bits = max(2, (size - 1).bit_length())
        bits += bits % 2
        self._size = size
        self._half = bits // 2
        self._mask = (1 << self._half) - 1
        self._keys = tuple(_mix64(key * 4 + r) for r in range(4))

    def __call__(self, x: int) -> int:
        if not 0 <= x < self._size:
            raise ValueError(f"{x} is outside 0..{self._size - 1}")
        while True:
            left, right = x >> self._half, x & self._mask
            for k in self._keys:
                left, right = right, left ^ (_mix64(right ^ k) & self._mask)
            x = (left << self._half) | right
            if x < self._size:
                return x


# -- dates -----------------------------------------------------------------------------------


def _add_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def age_on(born: date, on: date) -> int:
    """Whole years from ``born`` to ``on``."""
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def _ymd(day: date) -> str:
    return day.strftime("%Y%m%d")


def _day(text: str) -> date:
    return datetime.strptime(text, "%Y%m%d").date()


def _between(rng: random.Random, first: date, last: date) -> date:
    if last <= first:
        return first
    return first + timedelta(days=rng.randrange((last - first).days + 1))


def _born(rng: random.Random, age: int, on: date) -> date:
    """A birth date giving ``age`` on ``on``."""
    latest = _add_years(on, -age)
    earliest = _add_years(on, -(age + 1)) + timedelta(days=1)
    return _between(rng, earliest, latest)


# -- reference lists (names and places: common, public; DMIS ids made up) -------------------

_MALE = [
    "JAMES",
    "JOHN",
    "ROBERT",
    "MICHAEL",
    "WILLIAM",
    "DAVID",
    "RICHARD",
    "JOSEPH",
    "THOMAS",
    "CHRISTOPHER",
    "CHARLES",
    "DANIEL",
    "MATTHEW",
    "ANTHONY",
    "MARK",
    "DONALD",
    "STEVEN",
    "ANDREW",
    "JOSHUA",
    "KENNETH",
    "KEVIN",
    "BRIAN",
    "GEORGE",
    "TIMOTHY",
    "RONALD",
    "JASON",
    "EDWARD",
    "JEFFREY",
    "RYAN",
    "JACOB",
    "GARY",
    "NICHOLAS",
    "ERIC",
    "JONATHAN",
    "STEPHEN",
    "LARRY",
    "JUSTIN",
    "SCOTT",
    "BRANDON",
    "BENJAMIN",
    "SAMUEL",
    "GREGORY",
    "ALEXANDER",
    "PATRICK",
    "FRANK",
    "RAYMOND",
    "JACK",
    "DENNIS",
    "TYLER",
    "AARON",
    "JOSE",
    "ADAM",
    "NATHAN",
    "HENRY",
    "ZACHARY",
    "DOUGLAS",
    "PETER",
    "KYLE",
    "NOAH",
    "ETHAN",
    "JEREMY",
    "CHRISTIAN",
    "WALTER",
    "KEITH",
    "AUSTIN",
    "SEAN",
    "CARL",
    "DYLAN",
    "HAROLD",
    "JORDAN",
    "JESSE",
    "BRYAN",
    "LAWRENCE",
    "GABRIEL",
    "LOGAN",
    "JUAN",
    "ELIJAH",
    "MASON",
    "VINCENT",
    "LIAM",
    "CALEB",
    "LUCAS",
    "DEANDRE",
    "MALIK",
    "JAMAL",
    "DARNELL",
    "LUIS",
    "CARLOS",
    "MIGUEL",
    "JESÚS",
    "DUC",
    "MINH",
    "KOA",
    "TEVITA",
    "RAFAEL",
    "OMAR",
]
_FEMALE = [
    "MARY",
    "PATRICIA",
    "JENNIFER",
    "LINDA",
    "ELIZABETH",
    "BARBARA",
    "SUSAN",
    "JESSICA",
    "SARAH",
    "KAREN",
    "LISA",
    "NANCY",
    "BETTY",
    "SANDRA",
    "MARGARET",
    "ASHLEY",
    "KIMBERLY",
    "EMILY",
    "DONNA",
    "MICHELLE",
    "CAROL",
    "AMANDA",
    "MELISSA",
    "DEBORAH",
    "STEPHANIE",
    "DOROTHY",
    "REBECCA",
    "SHARON",
    "LAURA",
    "CYNTHIA",
    "AMY",
    "KATHLEEN",
    "ANGELA",
    "BRENDA",
    "EMMA",
    "ANNA",
    "PAMELA",
    "NICOLE",
    "SAMANTHA",
    "KATHERINE",
    "CHRISTINE",
    "HELEN",
    "RACHEL",
    "CAROLYN",
    "JANET",
    "MARIA",
    "CATHERINE",
    "HEATHER",
    "DIANE",
    "OLIVIA",
    "JULIE",
    "JOYCE",
    "VICTORIA",
    "RUTH",
    "VIRGINIA",
    "LAUREN",
    "KELLY",
    "CHRISTINA",
    "JOAN",
    "EVELYN",
    "ANDREA",
    "HANNAH",
    "MEGAN",
    "JACQUELINE",
    "MARTHA",
    "MADISON",
    "TERESA",
    "GLORIA",
    "JANICE",
    "ANN",
    "KATHRYN",
    "ABIGAIL",
    "SOPHIA",
    "GRACE",
    "AMBER",
    "DANIELLE",
    "NATALIE",
    "DIANA",
    "BRITTANY",
    "KAYLA",
    "ALEXIS",
    "MIA",
    "AVA",
    "HARPER",
    "AALIYAH",
    "IMANI",
    "GUADALUPE",
    "ROSA",
    "XIMENA",
    "LAN",
    "MEI",
    "LEILANI",
    "SOFÍA",
]
_LAST = [
    "SMITH",
    "JOHNSON",
    "WILLIAMS",
    "BROWN",
    "JONES",
    "GARCIA",
    "MILLER",
    "DAVIS",
    "RODRIGUEZ",
    "MARTINEZ",
    "HERNANDEZ",
    "LOPEZ",
    "GONZALEZ",
    "WILSON",
    "ANDERSON",
    "THOMAS",
    "TAYLOR",
    "MOORE",
    "JACKSON",
    "MARTIN",
    "LEE",
    "PEREZ",
    "THOMPSON",
    "WHITE",
    "HARRIS",
    "SANCHEZ",
    "CLARK",
    "RAMIREZ",
    "LEWIS",
    "ROBINSON",
    "WALKER",
    "YOUNG",
    "ALLEN",
    "KING",
    "WRIGHT",
    "SCOTT",
    "TORRES",
    "NGUYEN",
    "HILL",
    "FLORES",
    "GREEN",
    "ADAMS",
    "NELSON",
    "BAKER",
    "HALL",
    "RIVERA",
    "CAMPBELL",
    "MITCHELL",
    "CARTER",
    "ROBERTS",
    "GOMEZ",
    "PHILLIPS",
    "EVANS",
    "TURNER",
    "DIAZ",
    "PARKER",
    "CRUZ",
    "EDWARDS",
    "COLLINS",
    "REYES",
    "STEWART",
    "MORRIS",
    "MORALES",
    "MURPHY",
    "COOK",
    "ROGERS",
    "GUTIERREZ",
    "ORTIZ",
    "MORGAN",
    "COOPER",
    "PETERSON",
    "BAILEY",
    "REED",
    "KELLY",
    "HOWARD",
    "RAMOS",
    "KIM",
    "COX",
    "WARD",
    "RICHARDSON",
    "WATSON",
    "BROOKS",
    "CHAVEZ",
    "WOOD",
    "JAMES",
    "BENNETT",
    "GRAY",
    "MENDOZA",
    "RUIZ",
    "HUGHES",
    "PRICE",
    "ALVAREZ",
    "CASTILLO",
    "SANDERS",
    "PATEL",
    "MYERS",
    "LONG",
    "ROSS",
    "FOSTER",
    "TRAN",
    "PHAM",
    "SANTOS",
    "WASHINGTON",
    "BEGAY",
    "YAZZIE",
    "KEALOHA",
    "TAUFA",
    "O'BRIEN",
    "O'NEAL",
    "MCDONALD",
    "DE LA CRUZ",
    "VAN DYKE",
    "ST. JOHN",
    "NÚÑEZ",
]
_STREETS = [
    "MAPLE",
    "OAK",
    "PINE",
    "CEDAR",
    "ELM",
    "WASHINGTON",
    "LAKE",
    "HILL",
    "MAIN",
    "PARK",
    "SUNSET",
    "RIDGE",
    "MEADOW",
    "RIVER",
    "SPRING",
    "WILLOW",
    "CHESTNUT",
    "MAGNOLIA",
    "DOGWOOD",
    "HICKORY",
    "LIBERTY",
    "PATRIOT",
    "EAGLE",
    "FALCON",
    "SENTINEL",
    "JEFFERSON",
    "LINCOLN",
    "MADISON",
    "CYPRESS",
    "MESQUITE",
]
_STREET_TYPES = ("ST", "AVE", "RD", "DR", "LN", "CT", "BLVD", "WAY", "PL", "CIR", "LOOP", "TRL")


@dataclass(frozen=True, slots=True)
class _Place:
    city: str
    state: str
    zip3: str  # a domestic ZIP's first three digits, an APO/FPO's, or a foreign postal code
    area: str  # telephone area code, or a foreign number's country and city code
    site: str  # DMIS id of the Prime (Remote) enrollment site; "" where there is none
    remote: bool = False
    usfhp: bool = False
    country: str = "US"
    military_mail: bool = False


_INSTALLATIONS = (
    _Place("FAYETTEVILLE", "NC", "283", "910", "0089"),
    _Place("KILLEEN", "TX", "765", "254", "0110"),
    _Place("CLARKSVILLE", "TN", "370", "931", "0105"),
    _Place("NORFOLK", "VA", "235", "757", "0124"),
    _Place("SAN DIEGO", "CA", "921", "619", "0029"),
    _Place("JACKSONVILLE", "NC", "285", "910", "0091"),
    _Place("COLORADO SPRINGS", "CO", "809", "719", "0032"),
    _Place("LAKEWOOD", "WA", "984", "253", "0125"),
    _Place("EL PASO", "TX", "799", "915", "0108"),
    _Place("SAN ANTONIO", "TX", "782", "210", "0109"),
    _Place("OCEANSIDE", "CA", "920", "760", "0024"),
    _Place("HONOLULU", "HI", "968", "808", "0052"),
    _Place("ANCHORAGE", "AK", "995", "907", "0006"),
    _Place("COLUMBUS", "GA", "319", "706", "0047"),
    _Place("HINESVILLE", "GA", "313", "912", "0048"),
    _Place("PENSACOLA", "FL", "325", "850", "0038"),
    _Place("JACKSONVILLE", "FL", "322", "904", "0039"),
    _Place("VIRGINIA BEACH", "VA", "234", "757", "0123"),
    _Place("BREMERTON", "WA", "983", "360", "0126", usfhp=True),
    _Place("DAYTON", "OH", "454", "937", "0095"),
    _Place("BETHESDA", "MD", "208", "301", "0067"),
    _Place("BELLEVUE", "NE", "681", "402", "0085"),
    _Place("TAMPA", "FL", "336", "813", "0045"),
    _Place("FORT WALTON BEACH", "FL", "325", "850", "0042"),
    _Place("LAWTON", "OK", "735", "580", "0098"),
    _Place("JUNCTION CITY", "KS", "664", "785", "0057"),
    _Place("WATERTOWN", "NY", "136", "315", "0330"),
    _Place("RADCLIFF", "KY", "401", "270", "0060"),
    _Place("ALBUQUERQUE", "NM", "871", "505", "0083"),
    _Place("LAS VEGAS", "NV", "891", "702", "0079"),
    _Place("MONTGOMERY", "AL", "361", "334", "0004"),
    _Place("BALTIMORE", "MD", "212", "410", "0069", usfhp=True),
)
_REMOTE = (  # no military hospital or clinic near: Prime Remote, enrolled to a regional site
    _Place("BOISE", "ID", "837", "208", "7E01", remote=True),
    _Place("FARGO", "ND", "581", "701", "7E02", remote=True),
    _Place("BURLINGTON", "VT", "054", "802", "7E03", remote=True),
    _Place("BILLINGS", "MT", "591", "406", "7E04", remote=True),
    _Place("CASPER", "WY", "826", "307", "7E05", remote=True),
    _Place("SIOUX FALLS", "SD", "571", "605", "7E06", remote=True),
    _Place("PORTLAND", "ME", "041", "207", "7E07", remote=True, usfhp=True),
    _Place("DES MOINES", "IA", "503", "515", "7E08", remote=True),
)
_MILITARY_MAIL = (  # overseas, military post offices: Prime at the overseas clinic
    _Place("APO", "AE", "090", "+49631", "0606", military_mail=True),
    _Place("APO", "AE", "091", "+39044", "0612", military_mail=True),
    _Place("APO", "AP", "962", "+8231", "0620", military_mail=True),
    _Place("FPO", "AP", "963", "+8198", "0621", military_mail=True),
    _Place("DPO", "AE", "098", "+4412", "0615", military_mail=True),
)
_FOREIGN = (  # retirees living abroad: no Prime, TRICARE Select overseas
    _Place("KAISERSLAUTERN", "", "67655", "+49631", "", country="DE"),
    _Place("OKINAWA", "", "904-2234", "+8198", "", country="JP"),
    _Place("ANGELES CITY", "", "2009", "+6345", "", country="PH"),
    _Place("PYEONGTAEK", "", "17988", "+8231", "", country="KR"),
    _Place("VICENZA", "", "36100", "+39044", "", country="IT"),
    _Place("MILDENHALL", "", "IP28 7EE", "+441638", "", country="GB"),
    _Place("ROSARITO", "", "22710", "+52661", "", country="MX"),
)

_BRANCHES = ("A", "N", "F", "M", "S", "C", "P", "O")
_BRANCH_WEIGHTS = (34, 22, 22, 12, 2, 5, 2, 1)
_RESERVE_BRANCHES = ("A", "N", "F", "M", "C")
_RESERVE_WEIGHTS = (50, 12, 25, 8, 5)
_RETIREE_BRANCHES = ("A", "N", "F", "M", "C", "P", "O")
_RETIREE_WEIGHTS = (36, 24, 26, 8, 4, 1, 1)
_WARRANT_BRANCHES = frozenset({"A", "N", "M", "C"})
_OFFICER_ONLY = frozenset({"P", "O"})

# (up to years of service, (lowest, highest) grade number)
_GRADES_BY_YEARS = {
    "E": ((1, (1, 3)), (3, (3, 4)), (6, (4, 5)), (10, (5, 6)), (15, (6, 7)), (20, (7, 8))),
    "W": ((2, (1, 1)), (6, (2, 2)), (12, (3, 3)), (18, (4, 4))),
    "O": ((2, (1, 1)), (4, (2, 2)), (10, (3, 3)), (16, (4, 4)), (22, (5, 5)), (28, (6, 6))),
}
_TOP_GRADES = {"E": (8, 9), "W": (5, 5), "O": (6, 10)}
_TOP_GRADE = {"E": 9, "W": 5, "O": 10}


@dataclass(frozen=True, slots=True)
class _Service:
    """A sponsor's service: branch, pay grade, years served and the age they began."""

    branch: str
    grade: str
    years: int
    entry_age: int


@dataclass(slots=True)
class _Member:
    values: Record
    shares_address: bool


# -- the generator ----------------------------------------------------------------------------


class _Generator:
    """One extract's state: the random stream, counters, clock and pending changes."""

    def __init__(self, seed: int, start: date) -> None:
        self.rng = random.Random(seed)
        key = _mix64(seed % (1 << 64))
        self.as_of = start
        self.clock = datetime.combine(start, time(6, 0), UTC)
        self.edipi = _Permutation(_EDIPI_SPACE, key ^ 0xED1)
        self.dbn = _Permutation(_DBN_SPACE, key ^ 0xDB2)
        self.ssn = _Permutation(_SSN_SPACE, key ^ 0x553)
        self.people = 0
        self.sequence = 0
        self.pending: list[tuple[int, int, str, Record]] = []

    # the stream

    def run(self, families: int) -> Iterator[Record]:
        if not 0 <= families <= _DBN_SPACE:
            raise ValueError(f"families must be 0..{_DBN_SPACE}")
        for index in range(families):
            while self.pending and self.pending[0][0] <= index:
                _, _, action, values = heapq.heappop(self.pending)
                yield self._stamp(action, values)
            members, events = self._family(index)
            for member in members:
                yield self._stamp("A", member.values)
            for delay, action, values in events:
                self.sequence += 1
                heapq.heappush(self.pending, (index + delay, self.sequence, action, values))
        while self.pending:
            _, _, action, values = heapq.heappop(self.pending)
            yield self._stamp(action, values)

    def _stamp(self, action: str, values: Record) -> Record:
        self.clock += timedelta(seconds=self.rng.randint(1, 20))
        return {
            "record_action": action,
            "record_timestamp": self.clock.strftime("%Y-%m-%dT%H:%M:%SZ"),
            **values,
        }

    # identifiers

    def _new_dod_id(self) -> tuple[str, int]:
        number = self.people
        self.people += 1
        if number >= _EDIPI_SPACE:
            raise ValueError("more people than 10-digit DoD IDs")
        return str(_EDIPI_BASE + self.edipi(number)), number

    def _ssn(self, number: int, chance: float) -> str:
        if self.rng.random() >= chance:
            return ""
        n = self.ssn(number % _SSN_SPACE)
        area, rest = divmod(n, 99 * 9999)
        group, serial = divmod(rest, 9999)
        return f"9{area:02d}{group + 1:02d}{serial + 1:04d}"

    # names, places, contact details

    def _first(self, sex: str) -> str:
        rng = self.rng
        if sex == "M" or (sex == "U" and rng.random() < 0.5):
            return rng.choice(_MALE)
        return rng.choice(_FEMALE)

    def _middle(self, sex: str) -> str:
        r = self.rng.random()
        if r < 0.72:
            return self._first(sex)
        if r < 0.87:
            return self._first(sex)[0]
        return ""

    def _last(self) -> str:
        return self.rng.choice(_LAST)

    def _place(self, kind: str) -> _Place:
        """A home: ``duty`` near an installation (now and then remote or overseas),
        ``domestic`` in the States, ``home`` anywhere a retiree might live."""
        r = self.rng.random()
        if kind == "domestic":
            return self.rng.choice(_REMOTE if r < 0.25 else _INSTALLATIONS)
        if kind == "duty":
            if r < 0.08:
                return self.rng.choice(_MILITARY_MAIL)
            if r < 0.14:
                return self.rng.choice(_REMOTE)
            return self.rng.choice(_INSTALLATIONS)
        if r < 0.02:
            return self.rng.choice(_FOREIGN)
        if r < 0.22:
            return self.rng.choice(_REMOTE)
        return self.rng.choice(_INSTALLATIONS)

    def _address(self, place: _Place) -> Record:
        rng = self.rng
        line2 = ""
        if place.military_mail:
            if rng.random() < 0.5:
                line1 = f"UNIT {rng.randint(2000, 9999)} BOX {rng.randint(1, 999)}"
            else:
                line1 = f"PSC {rng.randint(100, 999)} BOX {rng.randint(1, 9999)}"
            postal = f"{place.zip3}{rng.randint(0, 99):02d}"
        elif place.country != "US":
            line1 = f"{rng.choice(_STREETS)} {rng.randint(1, 120)}"
            postal = place.zip3
        else:
            line1 = f"{rng.randint(1, 9999)} {rng.choice(_STREETS)} {rng.choice(_STREET_TYPES)}"
            r = rng.random()
            if r < 0.18:
                line2 = f"APT {rng.randint(1, 40)}{rng.choice('ABCD')}"
            elif r < 0.21:
                line2 = f"BLDG {rng.randint(1, 60)}, APT {rng.randint(100, 499)}"
            postal = f"{place.zip3}{rng.randint(0, 99):02d}"
            if rng.random() < 0.3:
                postal += f"-{rng.randint(1, 9999):04d}"
        country = place.country
        if country == "US" and rng.random() < 0.4:
            country = ""  # empty: the layout's default, US
        return {
            "address_line1": line1,
            "address_line2": line2,
            "city": place.city,
            "state": place.state,
            "postal_code": postal,
            "country": country,
        }

    def _phone(self, place: _Place, chance: float) -> str:
        rng = self.rng
        if rng.random() >= chance:
            return ""
        if place.area.startswith("+"):
            return f"{place.area}555{rng.randint(1000, 9999)}"
        number = f"{place.area}555{rng.randint(100, 199):04d}"
        return "+1" + number if rng.random() < 0.15 else number

    def _email(self, first: str, last: str, chance: float) -> str:
        rng = self.rng
        if rng.random() >= chance:
            return ""
        local = f"{first}.{last}".lower()
        local = unicodedata.normalize("NFKD", local)  # NÚÑEZ: nunez
        local = "".join(c for c in local if c.isascii() and (c.isalnum() or c == "."))
        if rng.random() < 0.6:
            local += str(rng.randint(1, 99))
        return f"{local}@{rng.choice(('example.com', 'example.net', 'example.org'))}"

    def _pcm(self) -> str:
        rng = self.rng
        if rng.random() < 0.12:
            return ""
        sex = rng.choice("MF")
        title = rng.choice(("MD", "MD", "DO", "NP", "PA"))
        return f"{self._last()}, {self._first(sex)} {title}"

    # service, plans

    def _service(self, branches: Sequence[str], weights: Sequence[int], years: int) -> _Service:
        """A pay grade fitting ``years`` of service in a branch drawn by ``weights``."""
        rng = self.rng
        branch = rng.choices(branches, weights)[0]
        r = rng.random()
        if branch in _OFFICER_ONLY or r < 0.16:
            kind, entry = "O", rng.randint(21, 27)
        elif branch in _WARRANT_BRANCHES and r < 0.19:
            kind, entry = "W", rng.randint(23, 32)
        else:
            kind, entry = (
                "E",
                rng.choices((17, 18, 19, 20, 21, 22, 24), (3, 30, 22, 15, 10, 8, 5))[0],
            )
        low, high = _TOP_GRADES[kind]
        for limit, band in _GRADES_BY_YEARS[kind]:
            if years < limit:
                low, high = band
                break
        number = low + min(high - low, int(rng.expovariate(1.2)))
        return _Service(branch, f"{kind}{number:02d}", years, entry)

    def _plan(self, kind: str, age: int, place: _Place) -> str:
        """A plan for a beneficiary of ``kind`` (a category, ``SR``/``AG`` for Guard/Reserve,
        ``RR`` for the gray area) aged ``age``; ``""`` for none."""
        rng = self.rng
        r = rng.random()
        if kind in ("ADSM", "AG"):
            return "PRR" if place.remote else "PRI"
        if kind in ("ADFM", "AGFM"):
            if place.remote:
                return "PRR" if r < 0.7 else "SEL" if r < 0.95 else ""
            if place.military_mail:
                return "PRI" if r < 0.85 else "SEL" if r < 0.95 else ""
            if place.usfhp and r < 0.08:
                return "USF"
            return "PRI" if r < 0.62 else "SEL" if r < 0.92 else ""
        if kind in ("SR", "SRFM"):
            return "TRS" if r < 0.55 else ""
        if kind in ("RR", "RRFM"):
            return "TRR" if r < 0.45 and age < 65 else ""
        if kind in ("VET", "PA"):
            return ""
        # RET, RETFM, SURV, FMSP, MOH
        if age >= 65:
            return "TFL" if r < 0.92 else ""
        if place.country != "US":
            return "SEL" if r < 0.8 else ""
        if place.usfhp and r < 0.06:
            return "USF"
        if not place.remote and not place.military_mail and r < 0.3:
            return "PRI"
        return "SEL" if r < 0.84 else ""

    def _enrol(self, values: Record, plan: str, place: _Place) -> None:
        values["plan"] = plan
        prime = plan in ("PRI", "PRR")
        values["enrollment_site"] = place.site if prime else ""
        values["pcm"] = self._pcm() if prime else ""

    # people

    def _person(
        self,
        *,
        prefix: str,
        suffix: int,
        sponsor: str,
        relationship: str,
        category: str,
        branch: str,
        sex: str,
        age: int,
        last: str,
        first: str | None = None,
        name_suffix: str = "",
        ssn_chance: float = 0.97,
        born: date | None = None,
    ) -> Record:
        dod_id, number = self._new_dod_id()
        return {
            "dod_id": dod_id,
            "dbn": f"{prefix}{suffix:02d}",
            "ssn": self._ssn(number, ssn_chance),
            "last_name": last,
            "first_name": first if first is not None else self._first(sex),
            "middle_name": self._middle(sex),
            "name_suffix": name_suffix,
            "birth_date": _ymd(born or _born(self.rng, age, self.as_of)),
            "sex": sex,
            "address_line1": "",
            "address_line2": "",
            "city": "",
            "state": "",
            "postal_code": "",
            "country": "",
            "phone": "",
            "email": "",
            "sponsor_dod_id": sponsor or dod_id,
            "relationship": relationship,
            "beneficiary_category": category,
            "branch": branch,
            "pay_grade": "",
            "duty_status": "",
            "eligibility_begin": "",
            "eligibility_end": "",
            "plan": "",
            "enrollment_site": "",
            "pcm": "",
        }

    def _contact(self, values: Record, place: _Place, phone: float, email: float) -> None:
        values["phone"] = self._phone(place, phone)
        values["email"] = self._email(values["first_name"], values["last_name"], email)

    def _family(self, index: int) -> tuple[list[_Member], list[tuple[int, str, Record]]]:
        rng = self.rng
        as_of = self.as_of
        prefix = f"{self.dbn(index):09d}"
        kind = rng.choices(("ADSM", "GRD", "RET", "VET", "SURV", "MOH"), (31, 15, 32, 6, 13, 3))[0]
        sex = "M" if rng.random() < 0.83 else "F"
        last = self._last()

        # the sponsor: service, age, duty status, dates, home
        died: date | None = None
        if kind == "ADSM" or (kind == "SURV" and rng.random() < 0.25):
            years = min(int(rng.expovariate(1 / 6.5)), 30)
            service = self._service(_BRANCHES, _BRANCH_WEIGHTS, years)
            age = min(service.entry_age + years, 62)
            category, duty, home = "ADSM", "AD", "duty"
            began = _add_years(as_of, -years) - timedelta(days=rng.randrange(365))
        elif kind == "GRD":
            years = min(int(rng.expovariate(1 / 8)), 35)
            service = self._service(_RESERVE_BRANCHES, _RESERVE_WEIGHTS, years)
            age = min(service.entry_age + years, 60)
            duty = "AG" if rng.random() < 0.25 else "SR"
            category, home = "GRD", "duty" if duty == "AG" else "domestic"
            began = _add_years(as_of, -min(years, rng.randint(0, 12))) - timedelta(
                days=rng.randrange(365)
            )
        elif kind in ("RET", "SURV"):
            gray = kind == "RET" and rng.random() < 0.12  # Retired Reserve, under 60
            medical = not gray and rng.random() < 0.06  # retired before 20 years
            years = rng.randint(8, 19) if medical else rng.randint(20, 32)
            service = self._service(_RETIREE_BRANCHES, _RETIREE_WEIGHTS, years)
            retired_at = service.entry_age + years
            if gray and retired_at <= 59:
                age = rng.randint(max(retired_at, 38), 59)
                duty = "RR"
            else:
                age = min(100, retired_at + int(rng.triangular(0, 50, 12)))
                duty = "RT"
            category, home = "RET", "home"
            began = _add_years(as_of, -(age - retired_at)) - timedelta(days=rng.randrange(365))
        elif kind == "VET":
            years = rng.randint(2, 12)
            service = self._service(_RETIREE_BRANCHES[:5], _RETIREE_WEIGHTS[:5], years)
            age = rng.randint(service.entry_age + years, 95)
            category, duty, home = "VET", "DS", "home"
            discharged = _add_years(as_of, -(age - service.entry_age - years))
            began = min(as_of, max(date(2020, 1, 1), discharged))
        else:  # MOH
            years = rng.randint(3, 30)
            service = self._service(_RETIREE_BRANCHES[:5], _RETIREE_WEIGHTS[:5], years)
            age = rng.randint(max(30, service.entry_age + years), 99)
            category, home = "MOH", "home"
            duty = "RT" if years >= 20 else "DS"
            began = _between(rng, _add_years(as_of, -(age - 25)), as_of)

        place = self._place("home" if kind == "SURV" else home)
        address = self._address(place)
        suffix = rng.choices(("", "JR", "SR", "II", "III", "IV"), (90, 6, 1, 1, 1.5, 0.5))[0]
        sponsor = self._person(
            prefix=prefix,
            suffix=0,
            sponsor="",
            relationship="SF",
            category=category,
            branch=service.branch,
            sex=sex,
            age=age,
            last=last,
            name_suffix=suffix if sex == "M" else "",
            ssn_chance=0.99,
        )
        sponsor_id = sponsor["dod_id"]
        born = _day(sponsor["birth_date"])
        began = min(as_of, max(began, _add_years(born, 17)))
        sponsor |= address
        sponsor["pay_grade"] = service.grade
        sponsor["duty_status"] = duty
        sponsor["eligibility_begin"] = _ymd(began)
        members = [_Member(sponsor, True)]
        if kind == "SURV":  # the sponsor's record ends on the day they died
            died = _between(rng, max(began, _add_years(as_of, -25)), as_of - timedelta(days=1))
            sponsor["eligibility_end"] = _ymd(died)
        else:
            self._contact(sponsor, place, 0.9, 0.8)
            plan_kind = {"GRD": duty, "RET": "RR" if duty == "RR" else "RET"}.get(
                category, category
            )
            self._enrol(sponsor, self._plan(plan_kind, age, place), place)

        if kind == "VET":
            return members, []

        # the family's category and plan rules
        family_category = {
            "ADSM": "ADFM",
            "GRD": "GRDFM",
            "RET": "RETFM",
            "MOH": "MOH",
        }[category]
        family_plan = {"ADSM": "ADFM", "GRD": duty + "FM", "RET": "RETFM", "MOH": "MOH"}[category]
        if duty == "AG":
            family_plan = "AGFM"
        if duty == "RR":
            family_plan = "RRFM"
        if died is not None:
            family_category = family_plan = "SURV"
        sponsor_plan = sponsor["plan"]
        family_begin = began if died is None else died + timedelta(days=1)

        def plan_for(member_age: int) -> str:
            plan = self._plan(family_plan, member_age, place)
            # Reserve Select and Retired Reserve cover a family only with the member enrolled
            if plan in ("TRS", "TRR") and sponsor_plan != plan:
                return ""
            return plan

        def dependent(
            relationship: str, member_sex: str, member_age: int, member_last: str, at: int
        ) -> Record:
            return self._person(
                prefix=prefix,
                suffix=at,
                sponsor=sponsor_id,
                relationship=relationship,
                category=family_category,
                branch=service.branch,
                sex=member_sex,
                age=member_age,
                last=member_last,
                ssn_chance=0.96,
            )

        # spouse
        married: date | None = None
        spouse: Record | None = None
        spouse_chance = {"ADSM": 0.62, "GRD": 0.6, "RET": 0.8, "MOH": 0.7}[category]
        if died is not None:
            spouse_chance = 0.85
        spouse_age = 0
        if rng.random() < spouse_chance:
            spouse_sex = ("F" if sex == "M" else "M") if rng.random() < 0.97 else sex
            spouse_age = max(18, min(100, age + rng.randint(-8, 6)))
            r = rng.random()
            maiden = self._last()
            spouse_last = last if r < 0.75 else maiden if r < 0.9 else f"{maiden}-{last}"
            if spouse_sex == "M" and sex == "F":
                spouse_last = maiden if r < 0.8 else last
            spouse = dependent("SP", spouse_sex, spouse_age, spouse_last[:35], 1)
            spouse |= address
            spouse_born = _day(spouse["birth_date"])
            both_adults = max(_add_years(born, 18), _add_years(spouse_born, 18))
            latest = died if died is not None else as_of
            married = _between(rng, both_adults, latest)
            spouse["eligibility_begin"] = _ymd(min(as_of, max(married, family_begin)))
            self._contact(spouse, place, 0.8, 0.7)
            self._enrol(spouse, plan_for(spouse_age), place)
            members.append(_Member(spouse, True))

        # children, oldest first: ages fit both parents; a survivor's children were born
        # before the death
        youngest_parent = min(age, spouse_age) if spouse is not None else age
        oldest_parent = max(age, spouse_age)
        low = max(0, oldest_parent - 50)
        if died is not None:
            low = max(low, (as_of - died).days // 365 + 1)
        high = min(25, youngest_parent - 18)
        children = rng.choices((0, 1, 2, 3, 4, 5), (28, 22, 28, 13, 6, 3))[0]
        if low > high:
            children = 0
        births = sorted(_born(rng, rng.randint(low, high), as_of) for _ in range(children))
        named_after_father = sex == "M" and rng.random() < 0.12
        for at, child_born in enumerate(births, start=2):
            child_age = age_on(child_born, as_of)
            r = rng.random()
            relationship = "CH"
            if spouse is not None and r < 0.1:
                relationship = "SC"
            elif r > 0.98 and died is None:
                relationship = "WD"
            child_sex = rng.choice("MF") if child_age > 0 or rng.random() < 0.97 else "U"
            child_last = last if relationship == "CH" else self._last()
            first: str | None = None
            child_suffix = ""
            if named_after_father and relationship == "CH" and child_sex == "M":
                named_after_father = False
                first = sponsor["first_name"]
                child_suffix = {"JR": "III", "III": "IV"}.get(suffix, "JR")
            child = self._person(
                prefix=prefix,
                suffix=at,
                sponsor=sponsor_id,
                relationship=relationship,
                category=family_category,
                branch=service.branch,
                sex=child_sex,
                age=child_age,
                born=child_born,
                last=child_last,
                first=first,
                name_suffix=child_suffix,
                ssn_chance=0.7 if child_age < 1 else 0.93,
            )
            begin = max(child_born, family_begin)
            if relationship == "SC" and married is not None:
                begin = max(begin, married)
            if relationship == "WD":
                begin = _between(rng, begin, as_of)
            child["eligibility_begin"] = _ymd(min(begin, as_of))
            shares = child_age < 18 or rng.random() < 0.7
            child_place = place if shares else self._place("home")
            child |= address if shares else self._address(child_place)
            if child_age >= 13:
                self._contact(child, child_place, 0.4, 0.5)
            # eligibility: to 21, 23 for a student, 26 under Young Adult
            student = 21 <= child_age <= 22 and rng.random() < 0.35
            young_adult = (
                21 <= child_age <= 25
                and not student
                and rng.random() < 0.4
                and _add_years(child_born, 26) > as_of + timedelta(days=120)
                and family_plan not in ("VET", "PA")
                and (family_plan not in ("SRFM", "RRFM") or sponsor_plan != "")
            )
            ends = _add_years(child_born, 26 if young_adult else 23 if student else 21)
            child["eligibility_end"] = _ymd(max(ends, begin))
            if young_adult:
                self._enrol(child, "TYA", place)
            elif ends > as_of:
                self._enrol(child, plan_for(child_age), place)
            members.append(_Member(child, shares))

        # now and then a dependent parent (of the sponsor or the spouse): no TRICARE plan
        suffix_next = 2 + len(births)
        if died is None and category in ("ADSM", "RET") and rng.random() < 0.03:
            parent_age = min(100, max(55, age + rng.randint(20, 38)))
            parent = dependent("PA", rng.choice("MF"), parent_age, last, suffix_next)
            parent |= address
            parent["eligibility_begin"] = _ymd(_between(rng, began, as_of))
            self._contact(parent, place, 0.5, 0.2)
            members.append(_Member(parent, True))
            suffix_next += 1

        # a retiree's former spouse (20/20/20): own category, own home
        if died is None and category == "RET" and service.years >= 20 and rng.random() < 0.08:
            former_age = max(40, min(100, age + rng.randint(-6, 4)))
            former_place = self._place("home")
            former = dependent("OT", rng.choice("MF"), former_age, self._last(), suffix_next)
            former["beneficiary_category"] = "FMSP"
            former |= self._address(former_place)
            former_born = _day(former["birth_date"])
            divorced = _between(rng, max(_add_years(former_born, 38), began), as_of)
            former["eligibility_begin"] = _ymd(min(as_of, divorced + timedelta(days=1)))
            self._contact(former, former_place, 0.8, 0.6)
            self._enrol(former, self._plan("FMSP", former_age, former_place), former_place)
            members.append(_Member(former, False))

        return members, self._events(members, category, died is None, place)

    # changes and terminations, applied in order to a copy of the family

    def _events(
        self, members: list[_Member], category: str, alive: bool, place: _Place
    ) -> list[tuple[int, str, Record]]:
        rng = self.rng
        as_of = self.as_of
        state = [_Member(dict(m.values), m.shares_address) for m in members]
        events: list[tuple[int, str, Record]] = []
        delay = 0

        def open_(values: Record) -> bool:
            end = values["eligibility_end"]
            return not end or _day(end) > as_of

        def step() -> int:
            nonlocal delay
            delay += rng.randint(1, 9)
            return delay

        sponsor = state[0].values
        if not alive:
            return events

        # a move (a new duty station, or a retiree's new home)
        if rng.random() < 0.12:
            status = sponsor["duty_status"]
            kind = "duty" if status in ("AD", "AG") else "domestic" if status == "SR" else "home"
            new_place = self._place(kind)
            address = self._address(new_place)
            when = step()
            for member in state:
                values = member.values
                if not member.shares_address or not open_(values):
                    continue
                values |= address
                if values["phone"]:
                    values["phone"] = self._phone(new_place, 1.0)
                if values["plan"] in ("PRI", "PRR"):
                    if (values is sponsor and values["duty_status"] in ("AD", "AG")) or (
                        new_place.site and not (new_place.remote and values["plan"] == "PRI")
                    ):
                        plan = "PRR" if new_place.remote else "PRI"
                    else:
                        plan = "SEL"
                    if new_place.country != "US" and not new_place.military_mail:
                        plan = "SEL"
                    self._enrol(values, plan, new_place)
                events.append((when, "C", dict(values)))
            place = new_place

        # a plan change (not for an ADSM: Prime is mandatory)
        if rng.random() < 0.1:
            choices = [
                m.values
                for m in state
                if m.values["plan"] in ("PRI", "SEL")
                and m.values["beneficiary_category"] != "ADSM"
                and m.values["duty_status"] != "AG"
                and open_(m.values)
            ]
            prime_here = bool(place.site) and not place.remote and place.country == "US"
            if choices:
                values = rng.choice(choices)
                if values["plan"] == "PRI" or prime_here:
                    self._enrol(values, "SEL" if values["plan"] == "PRI" else "PRI", place)
                    events.append((step(), "C", dict(values)))

        # a promotion
        grade = sponsor["pay_grade"]
        if (
            sponsor["duty_status"] in ("AD", "AG", "SR")
            and grade
            and int(grade[1:]) < _TOP_GRADE[grade[0]]
            and rng.random() < 0.08
        ):
            promoted = f"{grade[0]}{int(grade[1:]) + 1:02d}"
            if promoted in PAY_GRADES:
                sponsor["pay_grade"] = promoted
                events.append((step(), "C", dict(sponsor)))

        # new contact details
        if rng.random() < 0.08:
            candidates = [m.values for m in state if open_(m.values)]
            values = rng.choice(candidates)
            if rng.random() < 0.5:
                values["phone"] = self._phone(place, 1.0)
            else:
                values["email"] = self._email(values["first_name"], values["last_name"], 0.9)
            events.append((step(), "C", dict(values)))

        # at most one termination
        r = rng.random()
        spouse = next((m.values for m in state if m.values["relationship"] == "SP"), None)
        ending: list[Record] = []
        end = as_of
        if category in ("ADSM", "GRD") and r < 0.04:  # separation, or leaving the Reserve
            end = as_of + timedelta(days=rng.randint(0, 120))
            ending = [m.values for m in state if open_(m.values)]
        elif spouse is not None and open_(spouse) and r < 0.07:  # divorce
            end = as_of - timedelta(days=rng.randint(0, 60))
            ending = [spouse]
        elif category == "RET" and sponsor["duty_status"] == "RT" and r < 0.085:  # death
            end = as_of - timedelta(days=rng.randint(0, 20))
            ending = [sponsor]
        if ending:
            when = step()
            for values in ending:
                ends = end
                if values["eligibility_end"]:  # a child's eligibility may end sooner
                    ends = min(ends, _day(values["eligibility_end"]))
                values["eligibility_end"] = _ymd(max(ends, _day(values["eligibility_begin"])))
                events.append((when, "T", dict(values)))
            if ending == [sponsor] and category == "RET":  # survivors
                survivor_begin = _ymd(end + timedelta(days=1))
                when = step()
                for member in state[1:]:
                    values = member.values
                    if values["beneficiary_category"] != "RETFM" or not open_(values):
                        continue
                    values["beneficiary_category"] = "SURV"
                    values["eligibility_begin"] = survivor_begin
                    if values["eligibility_end"] and values["eligibility_end"] < survivor_begin:
                        values["eligibility_end"] = survivor_begin
                    if values["plan"] in ("TRR", "TRS"):
                        self._enrol(values, "", place)
                    events.append((when, "C", dict(values)))
        return events


def generate(families: int, *, seed: int, start: date | None = None) -> Iterator[Record]:
    """A synthetic extract of ``families`` families, one raw record at a time (see the module
    docstring); the same for the same ``families``, ``seed`` and ``start`` (default
    :data:`DEFAULT_START`), in constant memory."""
    return _Generator(seed, start or DEFAULT_START).run(families)


def generate_file(
    path: str | Path,
    families: int,
    seed: int,
    format: str,
    *,
    start: date | None = None,
) -> int:
    """Write a whole generated extract (UTF-8, ``format`` ``fixed`` or ``csv``) to ``path``;
    the number of records."""
    if format not in FORMATS:
        raise ValueError(f"unknown extract format {format!r}: fixed or csv")
    with open(path, "w", encoding="utf-8", newline="") as stream:
        return write(generate(families, seed=seed, start=start), stream, format)


# -- damage, for the readers' tests ------------------------------------------------------------

_BAD_CODES = {
    "action": "X",
    "sex": "X",
    "relationship": "ZZ",
    "beneficiary_category": "CIV",
    "branch": "Z",
    "pay_grade": "E10",
    "duty_status": "ZZ",
    "plan": "ZZZ",
}


def corrupt(
    values: Mapping[str, str], rng: random.Random, *, format: str = "csv"
) -> tuple[Record, str]:
    """``values`` with exactly one field damaged so that ``check`` rejects it naming that
    field; the damaged copy and the field's name.

    Damage: bad digits, a bad date or instant, an unknown code, a bad e-mail or DMIS id, a
    control character, an empty required field, and (``format="csv"`` only: a fixed-width
    line cannot hold it) a value too long for its field; or a rule across fields broken by one
    field (a sponsor's ``sponsor_dod_id`` not their own, a sponsor marked as a dependent, an
    eligibility end before the begin, a birth after the record, Prime without a site).
    """
    damaged = dict(values)
    options: list[tuple[str, str]] = []
    for field in layout().fields:
        name, value = field.name, values.get(field.name, "")
        kind = field.type
        if field.required:
            options.append((name, ""))
        if format == "csv":
            options.append((name, (value or "9") + "9" * field.width))
        if kind == "digits":
            options.append((name, value[:-1] if value else "1" * (field.width - 1)))
            options.append((name, ("X" + value[1:]) if value else "12X4567890"[: field.width]))
        elif kind == "date":
            options.extend(((name, "20230230"), (name, "2023-1-1"), (name, "ABCDEFGH")))
        elif kind == "instant":
            options.extend(((name, "2026-11-01 12:00:00Z"), (name, "2026-02-30T12:00:00Z")))
        elif kind == "email":
            options.extend(((name, "no-at-sign.example.com"), (name, "a@@example.com")))
        elif kind == "dmis":
            options.extend(((name, "01-3"), (name, "ab12")))
        elif field.table is not None:
            options.append((name, _BAD_CODES[field.table]))
        elif field.width >= 2:  # text
            text = value if len(value) >= 2 else "AB"
            options.append((name, text[:1] + "\x07" + text[2:]))
    # rules across fields, each broken by changing one field
    if values.get("relationship") == "SF":
        other = str(_EDIPI_BASE + (int(values["dod_id"]) + 1) % _EDIPI_SPACE)
        options.append(("sponsor_dod_id", other))
        options.append(("relationship", "CH"))
    begin = values.get("eligibility_begin", "")
    if begin:
        options.append(("eligibility_end", _ymd(_day(begin) - timedelta(days=1))))
    stamp = values.get("record_timestamp", "")
    if stamp:
        recorded = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").date()
        options.append(("birth_date", _ymd(recorded + timedelta(days=rng.randint(1, 400)))))
    if values.get("plan") in ("PRI", "PRR"):
        options.append(("enrollment_site", ""))
    name, value = rng.choice(options)
    damaged[name] = value
    return damaged, name
