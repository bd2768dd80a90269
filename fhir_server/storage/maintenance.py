"""The SQLite engine's maintenance: online backup, restore and an integrity check of its file.

- **backup** copies the database with SQLite's online backup API in a single step, which is
  one read transaction: a consistent snapshot taken while the server keeps serving (in WAL
  mode a reader never blocks the writer). The authorization tables live in the same file and
  come along; the audit trail's own file (``<db>.audit.db``) is copied the same way to
  ``<FILE>.audit``. Each copy is checked (``PRAGMA integrity_check``), switched to a rollback
  journal so that it is one self-contained file, and only then renamed into place.
- **restore** refuses to replace an existing database unless forced, and refuses while anyone
  uses the database. Detection rests on SQLite's own locks, with no lock file to go stale
  after a crash: every connection to a WAL database holds a SHARED lock on the file for as
  long as it is open (a server keeps its connections open for its lifetime), so taking the
  EXCLUSIVE lock in ``locking_mode=EXCLUSIVE`` fails while a server, a backup or a check has
  the file open. Once taken, the lock is held until the restore ends, so a server started
  meanwhile waits instead of reading a half-restored file. The backup is then copied into the
  locked file in place, as one transaction (under a rollback journal, so a crash mid-copy is
  undone on the next open). An audit trail that the restore replaces is first kept aside as
  ``<audit file>.before-restore-<time>``: audit records are never destroyed.
- **check** verifies, inside one read transaction (so it can run next to a live server):
  SQLite's ``integrity_check`` and ``foreign_key_check`` (also of the audit file); the schema
  version; the stored search index version; that every resource's current version has its
  history row, its versions run 1..current with no gaps and its body agrees with its row (id,
  ``meta.versionId``, deleted flag); and that the index rows agree with the resources:
  resources are streamed in batches, each current one re-extracted with
  :func:`fhir_server.indexing.extract` and compared with its stored rows (deleted and missing
  resources must have none). It reports counts and the first problems found.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fhir_server.indexing import INDEX_VERSION, extract
from fhir_server.indexing.reindex import BASE_KEY, META_KEY
from fhir_server.resource_json import parse_json
from fhir_server.storage.records import (
    IndexRow,
)
from fhir_server.storage.schema import INDEX_TABLES, SCHEMA_VERSION
from fhir_server.storage.sqlite import SqliteStore
from fhir_server.storage.sqlite_rows import encode_row
from smart_auth.sqlite_store import audit_path

__all__ = [
    "AUDIT_SUFFIX",
    "BackupReport",
    "CheckReport",
    "DatabaseInUse",
    "MaintenanceError",
    "Problem",
    "RestoreReport",
    "backup_database",
    "check_database",
    "database_in_use",
    "restore_database",
    "sqlite_path",
]

AUDIT_SUFFIX = ".audit"
"""A backup ``FILE`` keeps the audit trail next to it as ``FILE.audit``."""

FALLBACK_BASE_URL = "http://127.0.0.1:8080/fhir"
"""Base URL for re-extraction when the database never recorded one (and none is given)."""

_LAST_RID = 2**63 - 1


class MaintenanceError(Exception):
    """A maintenance command cannot (or must not) do what was asked; the message says why."""


class DatabaseInUse(MaintenanceError):
    """Another connection (a running server, a backup, a check) has the database open."""


def sqlite_path(database_url: str) -> str:
    """The file a ``sqlite:///`` database URL names; other engines have their own tools."""
    if database_url.startswith(("mongodb:", "mongodb+srv:")):
        raise MaintenanceError(
            "backup, restore and check work on the SQLite engine; for MongoDB use mongodump,"
            " mongorestore and validate as docs/operations.md describes"
        )
    try:
        return SqliteStore.from_url(database_url).path
    except ValueError as exc:
        raise MaintenanceError(str(exc)) from None


# -- connections -------------------------------------------------------------------------------


def _connect_existing(path: str, *, timeout: float = 30.0) -> sqlite3.Connection:
    """A connection to a database that must already exist (never creates an empty one)."""
    if not Path(path).is_file():
        raise MaintenanceError(f"no database at {path}")
    uri = Path(path).resolve().as_uri() + "?mode=rw"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=timeout)
        conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        raise MaintenanceError(f"{path} is not a readable SQLite database: {exc}") from None
    return conn


@contextlib.contextmanager
def _exclusive(path: str) -> Iterator[sqlite3.Connection]:
    """A connection holding the database's EXCLUSIVE lock until the block ends; raises
    :class:`DatabaseInUse` at once if any other connection has the file open."""
    if not Path(path).is_file():
        raise MaintenanceError(f"no database at {path}")
    uri = Path(path).resolve().as_uri() + "?mode=rw"
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=0.0)
    try:
        # The locking mode must be set before the first read, or the connection would join
        # the shared-memory index like any other reader instead of locking others out.
        conn.execute("PRAGMA busy_timeout = 0")
        conn.execute("PRAGMA locking_mode = EXCLUSIVE")
        try:
            conn.execute("BEGIN EXCLUSIVE")
            conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise DatabaseInUse(
                    f"{path} is in use (a running server, backup or check has it open):"
                    " stop the server first"
                ) from None
            raise MaintenanceError(f"{path} cannot be locked: {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise MaintenanceError(f"{path} is not a readable SQLite database: {exc}") from None
        yield conn
    finally:
        conn.close()


def database_in_use(path: str) -> bool:
    """Whether another connection, in this process or any other, has ``path`` open."""
    try:
        with _exclusive(path):
            return False
    except DatabaseInUse:
        return True


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(*paths: str) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def _integrity(conn: sqlite3.Connection, *, quick: bool = False) -> list[str]:
    """SQLite's findings (empty: the file is sound)."""
    pragma = "quick_check" if quick else "integrity_check"
    try:
        rows = [str(row[0]) for row in conn.execute(f"PRAGMA {pragma}(100)").fetchall()]
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    if rows == ["ok"]:
        return []
    # One finding may span lines under a "*** in database main ***" heading.
    lines = (line.strip() for row in rows for line in row.splitlines())
    return [line for line in lines if line and not line.startswith("*** in database")]


def _table_exists(conn: sqlite3.Connection, name: str) -> bool:
    found = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
    ).fetchone()
    return found is not None


def _counts(conn: sqlite3.Connection) -> tuple[int, int]:
    """(current non-deleted resources, versions) of a database with the resource tables."""
    if not _table_exists(conn, "resources"):
        return 0, 0
    resources = conn.execute("SELECT count(*) FROM resources WHERE deleted = 0").fetchone()[0]
    versions = conn.execute("SELECT count(*) FROM versions").fetchone()[0]
    return int(resources), int(versions)


# -- backup -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BackupReport:
    """What a backup wrote: the database copy, the audit trail copy (if there was a trail)."""

    path: str
    audit: str | None
    schema_version: int
    resources: int
    versions: int
    bytes: int


def _copy_file(source: str, out: str) -> int:
    """Copy the database ``source`` to ``out`` as one consistent, checked, self-contained
    file; return its schema version."""
    partial = out + ".partial"
    _remove(partial, partial + "-journal", partial + "-wal", partial + "-shm")
    src = _connect_existing(source)
    try:
        dst = sqlite3.connect(partial, isolation_level=None)
        try:
            src.backup(dst)  # pages=-1: one step, one read transaction: a snapshot
            dst.execute("PRAGMA journal_mode = DELETE")
            problems = _integrity(dst)
            if problems:
                raise MaintenanceError(
                    f"the copy of {source} fails its integrity check: {'; '.join(problems)}"
                )
            version = int(dst.execute("PRAGMA user_version").fetchone()[0])
        finally:
            dst.close()
    except BaseException:
        _remove(partial, partial + "-journal")
        raise
    finally:
        src.close()
    _fsync(partial)
    os.replace(partial, out)
    _fsync(str(Path(out).resolve().parent))
    return version


def backup_database(path: str, out: str, *, force: bool = False) -> BackupReport:
    """Copy the database at ``path`` (and its audit trail) to ``out`` while it is in use."""
    if Path(out).resolve() == Path(path).resolve():
        raise MaintenanceError("the backup file must not be the database itself")
    audit_out = out + AUDIT_SUFFIX
    if not force:
        for existing in (out, audit_out):
            if Path(existing).exists():
                raise MaintenanceError(f"{existing} exists; pass --force to replace it")
    Path(out).resolve().parent.mkdir(parents=True, exist_ok=True)
    version = _copy_file(path, out)
    trail = audit_path(path)
    if Path(trail).is_file():
        _copy_file(trail, audit_out)
        audit: str | None = audit_out
    else:
        _remove(audit_out)  # a stale one from an earlier backup would not belong to this copy
        audit = None
    conn = _connect_existing(out)
    try:
        resources, versions = _counts(conn)
    finally:
        conn.close()
    return BackupReport(
        path=out,
        audit=audit,
        schema_version=version,
        resources=resources,
        versions=versions,
        bytes=Path(out).stat().st_size,
    )


# -- restore ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RestoreReport:
    """What a restore put in place, and where a replaced audit trail was kept."""

    path: str
    audit: str | None
    kept_audit: str | None
    schema_version: int
    resources: int
    versions: int


def _verified_backup(backup: str) -> tuple[int, int, int]:
    """(schema version, resources, versions) of a backup fit to restore; refuses others."""
    conn = _connect_existing(backup)
    try:
        problems = _integrity(conn)
        if problems:
            raise MaintenanceError(f"{backup} fails its integrity check: {'; '.join(problems)}")
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise MaintenanceError(
                f"{backup} has schema version {version}, newer than this build supports"
                f" ({SCHEMA_VERSION}); restore it with a newer mhs-fhir"
            )
        if version == 0 or not _table_exists(conn, "resources"):
            raise MaintenanceError(f"{backup} is not an mhs-fhir database backup")
        return version, *_counts(conn)
    finally:
        conn.close()


def _copy_into(source: str, target: sqlite3.Connection) -> None:
    """Replace the content of the exclusively locked ``target`` with ``source``, as one
    transaction under a rollback journal, then give the file back its WAL mode."""
    src = _connect_existing(source)
    try:
        target.execute("PRAGMA journal_mode = DELETE")
        src.backup(target)
        target.execute("PRAGMA journal_mode = WAL")
    finally:
        src.close()


def _copy_new(source: str, path: str) -> None:
    """Create ``path`` (absent) as a copy of ``source``, whole or not at all."""
    _remove(path + "-wal", path + "-shm", path + "-journal")  # stale, without their database
    partial = path + ".partial"
    _remove(partial, partial + "-journal")
    src = _connect_existing(source)
    try:
        dst = sqlite3.connect(partial, isolation_level=None)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode = WAL")
        finally:
            dst.close()
    finally:
        src.close()
    _fsync(partial)
    os.replace(partial, path)
    _fsync(str(Path(path).resolve().parent))


def restore_database(backup: str, path: str, *, force: bool = False) -> RestoreReport:
    """Put the backup ``backup`` (and ``backup.audit`` if there is one) in place at ``path``.

    Refuses to replace an existing database unless ``force``, and always refuses (with
    :class:`DatabaseInUse`) while anyone has the database or its audit trail open.
    """
    if Path(backup).resolve() == Path(path).resolve():
        raise MaintenanceError("the backup file is the database itself")
    version, resources, versions = _verified_backup(backup)
    backup_audit = backup + AUDIT_SUFFIX
    has_audit = Path(backup_audit).is_file()
    if has_audit:
        _verified_audit(backup_audit)
    trail = audit_path(path)
    exists = Path(path).exists()
    if exists and not force:
        raise MaintenanceError(f"{path} exists; pass --force to replace it with {backup}")
    kept: str | None = None
    with contextlib.ExitStack() as stack:
        # Lock everything first: nothing changes unless all of it can be replaced.
        target = stack.enter_context(_exclusive(path)) if exists else None
        audit_lock = (
            stack.enter_context(_exclusive(trail)) if has_audit and Path(trail).exists() else None
        )
        if target is not None:
            _copy_into(backup, target)
        else:
            Path(path).resolve().parent.mkdir(parents=True, exist_ok=True)
            _copy_new(backup, path)
        if has_audit:
            if audit_lock is not None:
                stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
                kept = _unused(f"{trail}.before-restore-{stamp}")
                backup_of_old = sqlite3.connect(kept, isolation_level=None)
                try:
                    audit_lock.backup(backup_of_old)
                    backup_of_old.execute("PRAGMA journal_mode = DELETE")
                finally:
                    backup_of_old.close()
                _copy_into(backup_audit, audit_lock)
            else:
                _copy_new(backup_audit, trail)
    return RestoreReport(
        path=path,
        audit=trail if has_audit else None,
        kept_audit=kept,
        schema_version=version,
        resources=resources,
        versions=versions,
    )


def _unused(name: str) -> str:
    """``name``, or ``name-2``, ``name-3``... whichever does not exist yet."""
    candidate, n = name, 1
    while Path(candidate).exists():
        n += 1
        candidate = f"{name}-{n}"
    return candidate


def _verified_audit(path: str) -> None:
    conn = _connect_existing(path)
    try:
        problems = _integrity(conn)
        if problems:
            raise MaintenanceError(f"{path} fails its integrity check: {'; '.join(problems)}")
    finally:
        conn.close()


# -- check ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong: where (a resource, a table, the file) and what."""

    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


@dataclass(slots=True)
class CheckReport:
    """What a check found. ``problems`` holds the first ``limit`` of ``problem_count``."""

    path: str
    schema_version: int | None = None
    index_version: str | None = None
    base_url: str = ""
    resources: int = 0
    deleted: int = 0
    versions: int = 0
    index_rows: int = 0
    audit_records: int | None = None
    problem_count: int = 0
    problems: list[Problem] = field(default_factory=list)
    limit: int = 20

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    def add(self, where: str, what: str) -> None:
        self.problem_count += 1
        if len(self.problems) < self.limit:
            self.problems.append(Problem(where, what))


class _IndexTables:
    """Reads the stored index rows of a range of resources, keyed like extracted rows."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.keys: dict[int, str] = dict(conn.execute("SELECT pid, key FROM params").fetchall())
        self.real: dict[str, tuple[int, ...]] = {}
        for table in INDEX_TABLES:
            columns = conn.execute(f"PRAGMA table_info({table})").fetchall()
            # Positions after rid and pid whose REAL affinity turns stored integers into floats.
            self.real[table] = tuple(
                c[0] - 2 for c in columns if c[0] >= 2 and str(c[2]).upper() == "REAL"
            )

    def stored(
        self, conn: sqlite3.Connection, low: int, high: int
    ) -> dict[int, Counter[tuple[Any, ...]]]:
        """rid -> Counter of (table, key, values...) for every row with low <= rid <= high."""
        out: dict[int, Counter[tuple[Any, ...]]] = {}
        for table in INDEX_TABLES:
            rows = conn.execute(
                f"SELECT * FROM {table} WHERE rid BETWEEN ? AND ?", (low, high)
            ).fetchall()
            for rid, pid, *values in rows:
                key = self.keys.get(pid, f"<unknown parameter id {pid}>")
                out.setdefault(rid, Counter())[(table, key, *values)] += 1
        return out

    def expected(self, rows: Sequence[IndexRow]) -> Counter[tuple[Any, ...]]:
        out: Counter[tuple[Any, ...]] = Counter()
        for row in rows:
            number, (key, *normal) = encode_row(row)
            table = INDEX_TABLES[number]
            for position in self.real[table]:
                value = normal[position]
                if isinstance(value, int) and not isinstance(value, bool):
                    normal[position] = float(value)
            out[(table, key, *normal)] += 1
        return out


def _describe(rows: Counter[tuple[Any, ...]], limit: int = 3) -> str:
    shown = [f"{t[0]} {t[1]} {list(t[2:])}" for t in list(rows.elements())[:limit]]
    more = sum(rows.values()) - len(shown)
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


def _check_body(
    report: CheckReport, where: str, type: str, id: str, version: int, body: bytes
) -> dict[str, Any] | None:
    """The parsed body if it is the resource this row says it is, else None (reported)."""
    try:
        resource = parse_json(body)
    except Exception as exc:
        report.add(where, f"the stored body is not valid JSON ({exc})")
        return None
    if not isinstance(resource, dict):
        report.add(where, "the stored body is not a JSON object")
        return None
    meta = resource.get("meta")
    version_id = meta.get("versionId") if isinstance(meta, dict) else None
    if resource.get("resourceType") != type or resource.get("id") != id:
        report.add(where, f"the stored body is {resource.get('resourceType')}/{resource.get('id')}")
        return None
    if version_id != str(version):
        report.add(where, f"the stored body says meta.versionId {version_id!r}")
    return resource


def _check_resources(
    conn: sqlite3.Connection,
    report: CheckReport,
    *,
    base_url: str,
    compare_index: bool,
    batch: int,
    on_progress: Callable[[int], None],
) -> None:
    tables = _IndexTables(conn)
    low = 0
    while True:
        rows = conn.execute(
            "SELECT r.rid, r.type, r.id, r.version, r.deleted, v.seq, v.method, v.body"
            " FROM resources r LEFT JOIN versions v ON v.rid = r.rid AND v.version = r.version"
            " WHERE r.rid >= ? ORDER BY r.rid LIMIT ?",
            (low, batch),
        ).fetchall()
        high = rows[-1][0] if len(rows) == batch else _LAST_RID
        history = {
            rid: (count, first, last)
            for rid, count, first, last in conn.execute(
                "SELECT rid, count(*), min(version), max(version) FROM versions"
                " WHERE rid BETWEEN ? AND ? GROUP BY rid",
                (low, high),
            )
        }
        stored = tables.stored(conn, low, high) if compare_index else {}
        for rid, type, id, version, deleted, seq, method, body in rows:
            where = f"{type}/{id}"
            report.resources += not deleted
            report.deleted += bool(deleted)
            count, first, last = history.pop(rid, (0, None, None))
            report.versions += count
            rows_here = stored.pop(rid, Counter())
            report.index_rows += sum(rows_here.values())
            if seq is None:
                report.add(where, f"current version {version} has no history row")
            elif (count, first, last) != (version, 1, version):
                report.add(
                    where,
                    f"history holds {count} versions ({first}..{last}), want 1..{version}",
                )
            # What the index should hold: nothing for a deleted resource; None: unknown.
            expected: Counter[tuple[Any, ...]] | None = Counter() if deleted else None
            if seq is not None:
                if bool(deleted) != (body is None) or (method == "DELETE") != (body is None):
                    report.add(
                        where,
                        f"version {version} is inconsistent: deleted flag {deleted},"
                        f" method {method}, {'no body' if body is None else 'a body'}",
                    )
                elif body is not None:
                    resource = _check_body(report, where, type, id, version, body)
                    if resource is not None and compare_index:
                        try:
                            expected = tables.expected(extract(resource, base_url=base_url))
                        except Exception as exc:
                            report.add(where, f"index rows cannot be extracted: {exc}")
            if compare_index and expected is not None and rows_here != expected:
                missing, unexpected = expected - rows_here, rows_here - expected
                what = [f"version {version}: index rows disagree with the resource"]
                if missing:
                    what.append(f"missing {sum(missing.values())} ({_describe(missing)})")
                if unexpected:
                    what.append(f"unexpected {sum(unexpected.values())} ({_describe(unexpected)})")
                report.add(where, "; ".join(what))
        for rid, (count, _, _) in history.items():
            report.versions += count
            report.add(f"versions rid {rid}", f"{count} history rows of no resource")
        for rid, found in stored.items():
            report.index_rows += sum(found.values())
            report.add(f"index rid {rid}", f"{sum(found.values())} index rows of no resource")
        on_progress(len(rows))
        if high == _LAST_RID:
            return
        low = high + 1


def check_database(
    path: str,
    *,
    base_url: str | None = None,
    limit: int = 20,
    batch: int = 500,
    on_progress: Callable[[int], None] = lambda n: None,
) -> CheckReport:
    """Check the database at ``path`` (see the module docstring); it may be in use.

    ``base_url``: the base URL to re-extract index rows with; by default the one the
    database was last indexed for. ``limit``: how many problems to keep in the report.
    """
    report = CheckReport(path=path, limit=limit)
    conn = _connect_existing(path)
    try:
        conn.execute("BEGIN")  # one snapshot for everything below
        _check_main(conn, report, base_url=base_url, batch=batch, on_progress=on_progress)
    except sqlite3.DatabaseError as exc:
        report.add("database", f"reading failed: {exc}")
    finally:
        conn.close()
    _check_audit(report, audit_path(path))
    return report


def _check_main(
    conn: sqlite3.Connection,
    report: CheckReport,
    *,
    base_url: str | None,
    batch: int,
    on_progress: Callable[[int], None],
) -> None:
    for finding in _integrity(conn):
        report.add("integrity_check", finding)
    for table, rowid, parent, _ in conn.execute("PRAGMA foreign_key_check").fetchall():
        report.add("foreign_key_check", f"{table} row {rowid} refers to a missing {parent}")
    version = report.schema_version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        report.add(
            "schema",
            f"version {version}; this build supports up to {SCHEMA_VERSION}:"
            " check it with a newer mhs-fhir",
        )
        return
    if version < SCHEMA_VERSION:
        report.add(
            "schema",
            f"version {version}; this build uses {SCHEMA_VERSION}: the server upgrades it"
            " when it opens it",
        )
        return
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    report.index_version = meta.get(META_KEY)
    report.base_url = (base_url or meta.get(BASE_KEY) or FALLBACK_BASE_URL).rstrip("/")
    has_resources = conn.execute("SELECT 1 FROM resources LIMIT 1").fetchone() is not None
    index_current = report.index_version == INDEX_VERSION
    if not index_current and (has_resources or report.index_version is not None):
        report.add(
            "search index",
            f"built by extraction {report.index_version or '(none recorded)'}, this build"
            f" extracts {INDEX_VERSION}: run `mhs-fhir reindex` (the server also does at"
            " start-up)",
        )
    _check_resources(
        conn,
        report,
        base_url=report.base_url,
        compare_index=index_current,
        batch=batch,
        on_progress=on_progress,
    )


def _check_audit(report: CheckReport, trail: str) -> None:
    if not Path(trail).is_file():
        return
    try:
        conn = _connect_existing(trail)
    except MaintenanceError as exc:
        report.add("audit trail", str(exc))
        return
    try:
        conn.execute("BEGIN")
        for finding in _integrity(conn):
            report.add(f"audit trail integrity_check ({trail})", finding)
        if _table_exists(conn, "audit"):
            report.audit_records = int(conn.execute("SELECT count(*) FROM audit").fetchone()[0])
    except sqlite3.DatabaseError as exc:
        report.add("audit trail", f"reading failed: {exc}")
    finally:
        conn.close()
