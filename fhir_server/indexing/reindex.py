"""Rebuild search index rows from the stored resources when extraction or the search
definitions change (``INDEX_VERSION``). ``mhs-fhir reindex`` runs it on demand; the server
runs it at start-up when needed.

The base URL decides which absolute references count as local ones. A changed base URL (a new
port, say) does not reindex by itself: it is recorded and logged, and ``mhs-fhir reindex``
makes absolute references under the new base local.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from fhir_server.indexing import INDEX_VERSION, extract
from fhir_server.resource_json import parse_json
from fhir_server.storage import Store
from fhir_server.storage.records import IndexEntry

log = logging.getLogger(__name__)
META_KEY = "index_version"
BASE_KEY = "index_base_url"


async def reindex(
    store: Store,
    *,
    base_url: str,
    batch: int = 500,
    on_progress: Callable[[int], None] = lambda n: None,
) -> int:
    """Re-extract the index rows of every current resource; return how many."""
    done, after = 0, None
    while versions := await store.scan(after=after, limit=batch):
        entries: list[IndexEntry] = []
        for version in versions:
            assert version.body is not None
            rows = extract(parse_json(version.body), base_url=base_url)
            entries.append((version.type, version.id, version.version, rows))
        await store.replace_index(entries)
        after = versions[-1].seq
        done += len(versions)
        on_progress(len(versions))
    await store.set_meta(META_KEY, INDEX_VERSION)
    await store.set_meta(BASE_KEY, base_url.rstrip("/"))
    return done


async def ensure_index(store: Store, *, base_url: str) -> None:
    """Reindex if the store was indexed by another extraction; note a new base URL."""
    found = await store.get_meta(META_KEY)
    if found != INDEX_VERSION:
        level = logging.INFO if found is None else logging.WARNING  # None: a new database
        log.log(level, "search index is %s, want %s: reindexing", found or "new", INDEX_VERSION)
        count = await reindex(store, base_url=base_url)
        log.log(level, "reindexed %d resources", count)
        return
    base = base_url.rstrip("/")
    indexed_for = await store.get_meta(BASE_KEY)
    if indexed_for != base:
        log.warning(
            "the base URL is now %s (indexed for %s): absolute references under the new base"
            " become searchable as local ones after `mhs-fhir reindex`",
            base,
            indexed_for,
        )
        await store.set_meta(BASE_KEY, base)
