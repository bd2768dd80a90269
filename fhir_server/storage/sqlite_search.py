"""Search plans -> SQLite SQL. One builder per parameter type; the plan stays engine-free.

Each condition becomes a predicate on the resource row (alias ``r``, or ``t``/``s`` inside
chains and ``_has``) over the index tables; ``:not`` is ``NOT IN``; chains join the reference
index to the target resources; sorting uses per-resource min/max of the index values with
missing values last, and paging is keyset (the last row's sort values and rid), never offset.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

from fhir_server.search.plan import (
    AllOf,
    AnyOf,
    Chain,
    CompositeMatch,
    Condition,
    Cursor,
    DateMatch,
    Has,
    IdIn,
    LastUpdated,
    Missing,
    NumberMatch,
    ParamIn,
    Predicate,
    ReferenceMatch,
    SearchPlan,
    SortKey,
    StringMatch,
    TokenMatch,
    TypeIn,
    UriMatch,
)
from fhir_server.search.types import date as date_type
from fhir_server.search.types.uri import below_prefix, parents
from fhir_server.storage.records import INDEX_OF_KIND

TABLES = INDEX_OF_KIND
_TOP_TEXT = "\U0010ffff"
_SORT_COLUMN = {
    "string": ("norm", "norm"),
    "token": ("code", "code"),
    "reference": ("id", "id"),
    "date": ("low", "high"),
    "number": ("value", "COALESCE(x.high, x.value)"),
    "quantity": ("value", "COALESCE(x.high, x.value)"),
    "uri": ("uri", "uri"),
}
_NUMERIC = frozenset({"number", "quantity"})

Fragment = tuple[str, list[Any]]


Column = Callable[[str], str]
"""Maps a logical column (``code``, ``low``, ...) to SQL; plain tables use ``x.<name>``."""

SizeOf = Callable[[Fragment, int], int]
"""How many rows an index scan yields, counted up to a cap (the cap when there are more)."""

NARROW_SCAN = 64
"""A range whose index scan yields fewer rows than this is narrow: it drives alone and the
other ranges filter its rows, instead of every range being scanned and intersected."""


def _plain(name: str) -> str:
    if name == "top":  # a number row's upper end: its high when a Range, else its value
        return "COALESCE(x.high, x.value)"
    return f"x.{name}"


COMPONENT_COLUMNS: dict[str, dict[str, str]] = {
    "string": {"norm": "a", "exact": "b"},
    "token": {"system": "a", "code": "b"},
    "reference": {"type": "a", "id": "b", "url": "lo"},
    "date": {"low": "lo", "high": "hi"},
    "number": {"value": "n", "top": "n", "system": "a", "code": "b", "unit": "hi"},
    "quantity": {"value": "n", "top": "n", "system": "a", "code": "b", "unit": "hi"},
    "uri": {"uri": "a"},
}
"""Where each component of a composite row keeps its values in ``idx_composite``."""


def _component(index: int, kind: str) -> Column:
    layout = COMPONENT_COLUMNS[kind]
    return lambda name: f"x.k{index}_{layout[name]}"


def _string(p: StringMatch, c: Column) -> Fragment:
    if p.mode == "exact":
        from fhir_server.search.types.string import fold

        return f"({c('norm')} = ? AND {c('exact')} = ?)", [fold(p.value), p.value]
    if p.mode == "contains":
        return f"instr({c('norm')}, ?) > 0", [p.value]
    return f"({c('norm')} >= ? AND {c('norm')} < ?)", [p.value, p.value + _TOP_TEXT]


def _token(p: TokenMatch, c: Column) -> Fragment:
    parts, args = [], []
    if p.code is not None:
        parts.append(f"{c('code')} = ?")
        args.append(p.code)
    if p.system == "":
        parts.append(f"{c('system')} IS NULL")
    elif p.system is not None:
        parts.append(f"{c('system')} = ?")
        args.append(p.system)
    return "(" + (" AND ".join(parts) or "1") + ")", args


def _reference(p: ReferenceMatch, c: Column) -> Fragment:
    if p.url is not None:
        return f"{c('url')} = ?", [p.url]
    if p.type is None:
        return f"{c('id')} = ?", [p.id]
    return f"({c('id')} = ? AND {c('type')} = ?)", [p.id, p.type]


def date_sql(prefix: str, low: str, high: str, s_low: str, s_high: str) -> Fragment:
    """The prefix rule of date.range_matches on columns ``low``/``high``."""
    contained = f"({low} >= ? AND {high} <= ?)"
    rules: dict[str, Fragment] = {
        # low <= high, so "contained" implies low <= s_high: saying so bounds the index range.
        "eq": (f"({low} >= ? AND {low} <= ? AND {high} <= ?)", [s_low, s_high, s_high]),
        "ne": (f"NOT {contained}", [s_low, s_high]),
        "gt": (f"{high} > ?", [s_high]),
        "lt": (f"{low} < ?", [s_low]),
        "ge": (f"({high} > ? OR {contained})", [s_high, s_low, s_high]),
        "le": (f"({low} < ? OR {contained})", [s_low, s_low, s_high]),
        "sa": (f"{low} > ?", [s_high]),
        "eb": (f"{high} < ?", [s_low]),
        "ap": (f"({low} <= ? AND {high} >= ?)", [s_high, s_low]),
    }
    return rules[prefix]


def _date(p: DateMatch, c: Column) -> Fragment:
    s_low, s_high = date_type.approximately(p) if p.prefix == "ap" else (p.low, p.high)
    return date_sql(p.prefix, c("low"), c("high"), s_low, s_high)


def _number(p: NumberMatch, c: Column, *, quantity: bool) -> Fragment:
    """number.range_matches on columns: ``value`` is the low end, ``high`` (when a Range)
    the top."""
    low = c("value")
    high = c("top")
    slack = abs(p.value) * 0.1
    rules: dict[str, Fragment] = {
        # low <= high, so high < s_high bounds low too: said for the index.
        "eq": (f"({low} >= ? AND {low} < ? AND {high} < ?)", [p.low, p.high, p.high]),
        "ne": (f"NOT ({low} >= ? AND {high} < ?)", [p.low, p.high]),
        "gt": (f"{high} > ?", [p.value]),
        "sa": (f"{low} > ?", [p.value]),
        "lt": (f"{low} < ?", [p.value]),
        "eb": (f"{high} < ?", [p.value]),
        "ge": (f"{high} >= ?", [p.value]),
        "le": (f"{low} <= ?", [p.value]),
        "ap": (f"({low} <= ? AND {high} >= ?)", [p.value + slack, p.value - slack]),
    }
    sql, args = rules[p.prefix]
    if quantity and p.system is not None:
        sql += f" AND {c('system')} = ? AND {c('code')} IS ?"
        args = [*args, p.system, p.code]
    elif quantity and p.code is not None:
        sql += f" AND ({c('code')} = ? OR {c('unit')} = ?)"
        args = [*args, p.code, p.code]
    return f"({sql})", args


def _uri(p: UriMatch, c: Column) -> Fragment:
    if p.mode == "above":
        candidates = parents(p.value)
        return f"{c('uri')} IN ({', '.join('?' * len(candidates))})", list(candidates)
    if p.mode == "below":
        prefix = below_prefix(p.value)
        column = c("uri")
        return (
            f"({column} = ? OR ({column} >= ? AND {column} < ?))",
            [p.value, prefix, prefix + _TOP_TEXT],
        )
    return f"{c('uri')} = ?", [p.value]


def _composite(p: CompositeMatch) -> Fragment:
    parts, args = [], []
    for index, (kind, part) in enumerate(zip(p.kinds, p.parts, strict=True), start=1):
        sql, more = _predicate(kind, part, _component(index, kind))
        parts.append(sql)
        args.extend(more)
    return "(" + " AND ".join(parts) + ")", args


def _predicate(kind: str, p: Predicate, c: Column = _plain) -> Fragment:
    if isinstance(p, StringMatch):
        return _string(p, c)
    if isinstance(p, TokenMatch):
        return _token(p, c)
    if isinstance(p, ReferenceMatch):
        return _reference(p, c)
    if isinstance(p, DateMatch):
        return _date(p, c)
    if isinstance(p, NumberMatch):
        return _number(p, c, quantity=kind == "quantity")
    if isinstance(p, UriMatch):
        return _uri(p, c)
    if isinstance(p, CompositeMatch):
        return _composite(p)
    raise TypeError(f"unsupported predicate {p!r}")  # pragma: no cover


def _any_of(c: ParamIn) -> Fragment:
    """An index row (alias ``x``) matching one of the condition's predicates."""
    alternatives, args = [], []
    for p in c.any_of:
        sql, more = _predicate(c.kind, p)
        alternatives.append(sql)
        args.extend(more)
    return " OR ".join(alternatives), args


def _ms(instant: str) -> str:
    """A search bound (microseconds) at the millisecond precision of meta.lastUpdated."""
    return instant[:23] + "Z"


_DRIVER_RANK = {
    "token": 1,
    "reference": 1,
    "composite": 1,
    "uri": 2,
    "string": 3,
    "quantity": 4,
    "number": 4,
    "date": 4,
}


_LOW_SELECTIVITY = frozenset(
    {
        "status",
        "active",
        "gender",
        "intent",
        "priority",
        "category",
        "service-category",
        "service-type",
        "specialty",
    }
)
"""Token parameters with a handful of values: most resources share one, so they make poor
drivers (``Slot?status=free`` is most slots, ``Slot?service-type=...`` an eighth of a
clinic network's); they drive only when nothing else can."""
_LOW_SELECTIVITY_RANK = 6

_RANGE_RANK = 2
"""Driver ranks from here on are ranges, not exact codes or references."""

_OPEN_RANGE_KINDS = frozenset({"date", "number", "quantity"})
_OPEN_RANGE_RANK = 7
_OPEN_PREFIXES = frozenset({"gt", "ge", "lt", "le", "sa", "eb"})
"""A range open at one end (``start=ge2026-03-01``: all that follows) is the poorest driver,
even behind a low-selectivity token: it drives only when nothing else can, and never joins
an intersection of ranges (``ge D`` and ``lt D+1`` would each scan half the store)."""


def driver_rank(c: Condition) -> int | None:
    """How well ``c`` can drive a query (lower is better); None if it cannot (negations,
    :missing): it must then filter rows found some other way."""
    if isinstance(c, IdIn):
        return 0
    if isinstance(c, ParamIn):
        if c.negate:
            return None
        if c.kind == "token" and c.param.rsplit(".", 1)[-1] in _LOW_SELECTIVITY:
            return _LOW_SELECTIVITY_RANK
        if c.kind in _OPEN_RANGE_KINDS and all(
            getattr(p, "prefix", None) in _OPEN_PREFIXES for p in c.any_of
        ):
            return _OPEN_RANGE_RANK
        return _DRIVER_RANK[c.kind]
    if isinstance(c, Chain):
        inner = [r for r in map(driver_rank, c.where) if r is not None]
        return 2 + min(inner) if inner else None
    if isinstance(c, Has):
        inner = [r for r in map(driver_rank, c.where) if r is not None]
        return 3 + min(inner) if inner else None
    if isinstance(c, AnyOf):
        ranks = [driver_rank(sub) for sub in c.conditions]
        return None if None in ranks else 1 + max(r for r in ranks if r is not None)
    if isinstance(c, AllOf):
        inner = [r for r in map(driver_rank, c.conditions) if r is not None]
        return min(inner) if inner else None
    if isinstance(c, LastUpdated):
        return 5
    return None


class Compiler:
    """Compiles one plan; ``pid_of`` maps a parameter key to its id (None: never indexed).

    The most selective condition *drives* the query (``rid IN (...)`` from its index); every
    other one *filters* the rows it finds (``EXISTS`` on the index rows of that one row), so
    a narrow search stays narrow however many resources the store holds.
    """

    def __init__(self, pid_of: Callable[[str], int | None], size_of: SizeOf | None = None) -> None:
        self.pid_of = pid_of
        self.size_of = size_of

    def where(self, conditions: Sequence[Condition], a: str, types: Fragment) -> Fragment:
        """``types`` (SQL on ``{a}.type``) and every condition, one of them driving.

        When the best driver is only a range (string, date, number, quantity, uri), every
        such range drives together: their index scans are intersected before any resource
        row is read (``Patient?name=smi&birthdate=1980``). With ``size_of``, each range's scan
        is first counted up to ``NARROW_SCAN`` rows: a narrow one drives alone and the others
        only filter the few rows it finds (``name=smi&birthdate=1980-03-04`` reads the day's
        births, not every ``smi``), so its cost does not grow with the store.
        """
        ranked = [(driver_rank(c), i) for i, c in enumerate(conditions)]
        drivable = [(rank, i) for rank, i in ranked if rank is not None]
        driver = min(drivable)[1] if drivable else None
        ranges = [
            i
            for rank, i in drivable
            if _RANGE_RANK <= rank < _LOW_SELECTIVITY_RANK and isinstance(conditions[i], ParamIn)
        ]
        if driver is not None and len(ranges) > 1 and driver in ranges:
            drivers = set(ranges)
            narrowest = self._narrowest(conditions, ranges)
            if narrowest is not None:
                drivers = {narrowest}
        else:
            drivers = set() if driver is None else {driver}
        parts, args = [], []
        type_sql, type_args = types
        # With a driver other than _id/_lastUpdated, the type index would only mislead the
        # planner into scanning every resource of the type: the unary + keeps it unused.
        if drivers and not any(isinstance(conditions[i], IdIn | LastUpdated) for i in drivers):
            type_sql = "+" + type_sql
        parts.append(type_sql)
        args.extend(type_args)
        parts.append(f"{a}.deleted = 0")
        if len(drivers) > 1:
            selects, more = [], []
            for i in sorted(drivers):
                sql, sub_args = self.index_scan(cast(ParamIn, conditions[i]))
                selects.append(sql)
                more.extend(sub_args)
            parts.append(f"{a}.rid IN (" + " INTERSECT ".join(selects) + ")")
            args.extend(more)
        for i, condition in enumerate(conditions):
            if len(drivers) > 1 and i in drivers:
                continue
            sql, more = self.condition(condition, a, drive=i in drivers)
            parts.append(sql)
            args.extend(more)
        return " AND ".join(parts), args

    def _narrowest(self, conditions: Sequence[Condition], ranges: Sequence[int]) -> int | None:
        """The range among ``ranges`` whose index scan is narrow, the smallest; None if none."""
        if self.size_of is None:
            return None
        sizes = []
        for i in ranges:
            size = self.size_of(self.index_scan(cast(ParamIn, conditions[i])), NARROW_SCAN)
            sizes.append((size, i))
        size, i = min(sizes)
        return i if size < NARROW_SCAN else None

    def index_scan(self, c: ParamIn) -> Fragment:
        """The rids whose index rows match ``c``, from its index alone."""
        pid = self.pid_of(c.param)
        if pid is None:
            return "SELECT NULL WHERE 0", []
        if len(c.any_of) == 1:
            matching, args = _any_of(c)
            sql = f"SELECT x.rid FROM {TABLES[c.kind]} x WHERE x.pid = ? AND ({matching})"
            return sql, [pid, *args]
        # Several values (identifier=a,b,...): the parameter in every alternative, so SQLite
        # looks each one up in the (pid, value) index instead of reading all the parameter's
        # rows once per query.
        parts: list[str] = []
        scan_args: list[Any] = []
        for predicate in c.any_of:
            sql, more = _predicate(c.kind, predicate)
            parts.append(f"(x.pid = ? AND ({sql}))")
            scan_args.extend([pid, *more])
        return f"SELECT x.rid FROM {TABLES[c.kind]} x WHERE " + " OR ".join(parts), scan_args

    def condition(self, c: Condition, a: str, *, drive: bool = False) -> Fragment:
        if isinstance(c, TypeIn):
            return f"{a}.type IN ({', '.join('?' * len(c.types))})", list(c.types)
        if isinstance(c, IdIn):
            return f"{a}.id IN ({', '.join('?' * len(c.ids))})", list(c.ids)
        if isinstance(c, LastUpdated):
            alternatives = []
            args: list[Any] = []
            for d in c.any_of:
                s_low, s_high = date_type.approximately(d) if d.prefix == "ap" else (d.low, d.high)
                sql, more = date_sql(
                    d.prefix, f"{a}.last_updated", f"{a}.last_updated", _ms(s_low), _ms(s_high)
                )
                alternatives.append(sql)
                args.extend(more)
            return "(" + " OR ".join(alternatives) + ")", args
        if isinstance(c, ParamIn):
            pid = self.pid_of(c.param)
            if pid is None:
                return ("1" if c.negate else "0"), []
            matching, args = _any_of(c)
            table = TABLES[c.kind]
            if drive:
                inner, inner_args = self.index_scan(c)
                return f"{a}.rid IN ({inner})", inner_args
            exists = (
                f"EXISTS (SELECT 1 FROM {table} x INDEXED BY {table}_rid"
                f" WHERE x.rid = {a}.rid AND x.pid = ? AND ({matching}))"
            )
            return (f"NOT {exists}" if c.negate else exists), [pid, *args]
        if isinstance(c, Missing):
            pid = self.pid_of(c.param)
            if pid is None:
                return ("1" if c.missing else "0"), []
            exists = (
                f"EXISTS (SELECT 1 FROM {TABLES[c.kind]} x WHERE x.rid = {a}.rid AND x.pid = ?)"
            )
            return (f"NOT {exists}" if c.missing else exists), [pid]
        if isinstance(c, Chain):
            pid = self.pid_of(c.param)
            if pid is None:
                return "0", []
            t = a + "t"
            if drive:  # the targets first, then who points at them
                inner, args = self.where(c.where, t, (f"{t}.type = ?", [c.target_type]))
                sql = (
                    f"{a}.rid IN (SELECT x.rid FROM resources {t} CROSS JOIN idx_reference x"
                    f" WHERE {inner} AND x.pid = ? AND x.id = {t}.id AND x.type = {t}.type)"
                )
                return sql, [*args, pid]
            inner, args = self.filters(c.where, t)
            sql = (
                f"EXISTS (SELECT 1 FROM idx_reference x INDEXED BY idx_reference_rid"
                f" JOIN resources {t} ON {t}.type = x.type AND {t}.id = x.id"
                f" WHERE x.rid = {a}.rid AND x.pid = ? AND x.type = ? AND {t}.deleted = 0"
                f" AND {inner})"
            )
            return sql, [pid, c.target_type, *args]
        if isinstance(c, Has):
            pid = self.pid_of(c.param)
            if pid is None:
                return "0", []
            s = a + "s"
            if drive:  # the referring resources first, then what they point at
                inner, args = self.where(c.where, s, (f"{s}.type = ?", [c.source_type]))
                sql = (
                    f"({a}.type, {a}.id) IN (SELECT x.type, x.id FROM resources {s}"
                    f" CROSS JOIN idx_reference x WHERE {inner} AND x.rid = {s}.rid"
                    " AND x.pid = ?)"
                )
                return sql, [*args, pid]
            inner, args = self.filters(c.where, s)
            sql = (
                f"EXISTS (SELECT 1 FROM idx_reference x JOIN resources {s} ON {s}.rid = x.rid"
                f" WHERE x.pid = ? AND x.id = {a}.id AND x.type = {a}.type"
                f" AND {s}.type = ? AND {s}.deleted = 0 AND {inner})"
            )
            return sql, [pid, c.source_type, *args]
        if isinstance(c, AnyOf):
            parts, args = [], []
            for sub in c.conditions:
                sql, more = self.condition(sub, a, drive=drive)
                parts.append(sql)
                args.extend(more)
            return "(" + (" OR ".join(parts) or "0") + ")", args
        if isinstance(c, AllOf):
            # Driving: the best member drives, the others filter the rows it finds.
            ranked = [(r, i) for i, r in enumerate(map(driver_rank, c.conditions)) if r is not None]
            best = min(ranked)[1] if drive and ranked else None
            parts, args = [], []
            for i, sub in enumerate(c.conditions):
                sql, more = self.condition(sub, a, drive=i == best)
                parts.append(sql)
                args.extend(more)
            return "(" + (" AND ".join(parts) or "1") + ")", args
        raise TypeError(f"unsupported condition {c!r}")  # pragma: no cover

    def filters(self, conditions: Sequence[Condition], a: str) -> Fragment:
        """Every condition as a filter on one known row ``a``."""
        parts, args = [], []
        for condition in conditions:
            sql, more = self.condition(condition, a)
            parts.append(sql)
            args.extend(more)
        return (" AND ".join(parts) if parts else "1"), args

    def sort_key(self, key: SortKey) -> Fragment:
        """The expression a key sorts by, with missing values sorting last either way."""
        if key.kind == "id":
            return "r.id", []
        if key.kind == "lastUpdated":
            return "r.last_updated", []
        pid = self.pid_of(key.param)
        numeric = key.kind in _NUMERIC
        missing: Any = (
            (-1e308 if numeric else "") if key.descending else (1e308 if numeric else _TOP_TEXT)
        )
        if pid is None:
            return "?", [missing]
        ascending_column, descending_column = _SORT_COLUMN[key.kind]
        column = descending_column if key.descending else ascending_column
        aggregate = "max" if key.descending else "min"
        table = TABLES[key.kind]
        sql = (
            f"COALESCE((SELECT {aggregate}({column if '(' in column else 'x.' + column})"
            f" FROM {table} x INDEXED BY {table}_rid"
            " WHERE x.rid = r.rid AND x.pid = ?), ?)"
        )
        return sql, [pid, missing]

    def search(self, plan: SearchPlan, *, count_only: bool = False) -> Fragment:
        types = (f"r.type IN ({', '.join('?' * len(plan.types))})", list(plan.types))
        base_where, base_args = self.where(plan.conditions, "r", types)
        if count_only:
            return f"SELECT count(*) FROM resources r WHERE {base_where}", base_args
        sort_sql, sort_args = [], []
        for i, key in enumerate(plan.sort):
            sql, args = self.sort_key(key)
            sort_sql.append(f"{sql} AS s{i}")
            sort_args.extend(args)
        columns = ", ".join(["r.rid", "r.type", "r.id", "r.version", "r.last_updated", *sort_sql])
        inner = f"SELECT {columns} FROM resources r WHERE {base_where}"
        keyset, keyset_args = self.keyset(plan.sort, plan.cursor)
        backward = plan.cursor is not None and plan.cursor.before
        order = ", ".join(
            [f"s{i}{' DESC' if k.descending != backward else ''}" for i, k in enumerate(plan.sort)]
            + ["m.rid" + (" DESC" if backward else "")]
        )
        sql = (
            "SELECT m.*, v.method, v.body FROM (" + inner + ") m"
            " JOIN versions v ON v.rid = m.rid AND v.version = m.version"
            f" WHERE {keyset} ORDER BY {order} LIMIT ?"  # one more row: is there a next page?
        )
        return sql, [*sort_args, *base_args, *keyset_args, plan.count + 1]

    def keyset(self, sort: Sequence[SortKey], cursor: Cursor | None) -> Fragment:
        """Rows strictly after (or before) the cursor in (sort keys..., rid) order."""
        if cursor is None:
            return "1", []
        if len(cursor.values) != len(sort):
            return "0", []
        alternatives, args = [], []
        for i in range(len(sort) + 1):
            parts, more = [], []
            for j in range(i):
                parts.append(f"m.s{j} = ?")
                more.append(cursor.values[j])
            if i < len(sort):
                later = sort[i].descending == cursor.before
                parts.append(f"m.s{i} {'>' if later else '<'} ?")
                more.append(cursor.values[i])
            else:
                parts.append(f"m.rid {'<' if cursor.before else '>'} ?")
                more.append(cursor.rid)
            alternatives.append("(" + " AND ".join(parts) + ")")
            args.extend(more)
        return "(" + " OR ".join(alternatives) + ")", args
