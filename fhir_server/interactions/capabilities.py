"""capabilities: ``GET [base]/metadata`` (https://hl7.org/fhir/R4/http.html#capabilities).

Generated from what the server really serves: its types, interactions and search parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fhir_server.clock import now_instant
from fhir_server.errors import BadRequest
from fhir_server.interactions.context import Context, Outcome
from fhir_server.search.registry import COLUMN_PARAMS, params_for
from fhir_server.spec import FHIR_VERSION
from fhir_server.validation import profiles_of, served_types
from smart_auth.context import Interaction

TYPE_INTERACTIONS = (
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
)


def software_version() -> str:
    try:
        return version("mhs-fhir")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


def _search_params(type: str) -> list[dict[str, str]]:
    """Every parameter a search of ``type`` honours, with its type and definition."""
    return [
        {"name": p.code, "definition": p.url, "type": p.kind}
        for p in sorted(params_for(type).values(), key=lambda p: p.code)
        if p.indexed or p.code in COLUMN_PARAMS
    ]


def _includes(type: str) -> set[str]:
    references = [p for p in params_for(type).values() if p.kind == "reference" and p.indexed]
    return {"*"} | {f"{type}:{p.code}" for p in references}


@cache
def _revincludes_by_target() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for source in served_types():
        for p in params_for(source).values():
            if p.kind == "reference" and p.indexed:
                for target in p.targets:
                    out.setdefault(target, set()).add(f"{source}:{p.code}")
    return out


def _revincludes(type: str) -> set[str]:
    return _revincludes_by_target().get(type, set())


@cache
def _resources() -> list[dict[str, Any]]:
    return [
        {
            "type": type,
            "profile": f"http://hl7.org/fhir/StructureDefinition/{type}",
            "interaction": [{"code": code} for code in TYPE_INTERACTIONS],
            "versioning": "versioned",
            "readHistory": True,
            "updateCreate": True,
            "conditionalCreate": True,
            "conditionalRead": "full-support",
            "conditionalUpdate": True,
            "conditionalDelete": "single",
            "searchInclude": sorted(_includes(type)),
            "searchRevInclude": sorted(_revincludes(type)),
            "searchParam": _search_params(type),
            **({"supportedProfile": profiles_of(type)} if profiles_of(type) else {}),
            "operation": [
                {
                    "name": "validate",
                    "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate",
                }
            ],
        }
        for type in sorted(served_types())
    ]


INSECURE_WARNING = (
    "WARNING: this server runs with --insecure-no-auth: no authorization, anyone may read and"
    " change every record. For local development only."
)


def _security(auth_url: str | None) -> dict[str, Any]:
    """rest.security: SMART-on-FHIR with its OAuth URIs, or a loud warning when off."""
    if auth_url is None:
        return {"cors": True, "description": INSECURE_WARNING}
    uris = {
        "authorize": f"{auth_url}/authorize",
        "token": f"{auth_url}/token",
        "introspect": f"{auth_url}/introspect",
        "revoke": f"{auth_url}/revoke",
    }
    return {
        "cors": True,
        "service": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                        "code": "SMART-on-FHIR",
                    }
                ]
            }
        ],
        "extension": [
            {
                "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                "extension": [{"url": k, "valueUri": v} for k, v in uris.items()],
            }
        ],
        "description": "SMART App Launch 2.2 and Backend Services; see"
        " .well-known/smart-configuration",
    }


def capability_statement(base_url: str, auth_url: str | None) -> dict[str, Any]:
    description = "mhs-fhir FHIR R4 server"
    if auth_url is None:
        description += " - " + INSECURE_WARNING
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": now_instant(),
        "publisher": "mhs-fhir",
        "kind": "instance",
        "software": {"name": "mhs-fhir", "version": software_version()},
        "implementation": {"description": description, "url": base_url},
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "patchFormat": ["application/json-patch+json"],
        "rest": [
            {
                "mode": "server",
                "security": _security(auth_url),
                "resource": _resources(),
                "interaction": [
                    {"code": "transaction"},
                    {"code": "batch"},
                    {"code": "search-system"},
                    {"code": "history-system"},
                ],
                "searchParam": _search_params("Resource"),
            }
        ],
    }


async def capabilities(ctx: Context, *, params: Sequence[tuple[str, str]]) -> Outcome:
    """The CapabilityStatement (its security section from ``ctx.auth_url``: None when off)."""
    ctx.access.require(Interaction.CAPABILITIES, None)
    for name, value in params:
        if name == "mode" and value not in ("full", "normative"):
            raise BadRequest(f"metadata mode {value!r} is not supported", code="not-supported")
    return Outcome(status=200, body=capability_statement(ctx.base_url, ctx.auth_url))
