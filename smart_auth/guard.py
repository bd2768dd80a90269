"""The guard: one request's credentials -> its AccessContext. Called once per request.

Until the SMART authorization server is configured there are no credentials to check, and the
guard hands out the open-server context explicitly.
"""

from __future__ import annotations

from collections.abc import Mapping

from smart_auth.context import AccessContext


def access_for(headers: Mapping[str, str]) -> AccessContext:
    """The access context for a request with these headers."""
    del headers  # no authorization configured yet: every caller is anonymous
    return AccessContext.open_server()
