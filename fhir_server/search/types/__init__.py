"""One module per search parameter type: extract (index rows), parse (predicates), match.

``module_for(kind)`` is the dispatcher; a kind without a module fails loudly.
Spec: https://hl7.org/fhir/R4/search.html#ptypes
"""

from __future__ import annotations

from types import ModuleType

from fhir_server.search.types import (
    composite,
    date,
    number,
    quantity,
    reference,
    string,
    token,
    uri,
)

_MODULES: dict[str, ModuleType] = {
    "string": string,
    "token": token,
    "reference": reference,
    "date": date,
    "number": number,
    "quantity": quantity,
    "uri": uri,
    "composite": composite,
}


def module_for(kind: str) -> ModuleType:
    try:
        return _MODULES[kind]
    except KeyError:
        raise NotImplementedError(f"search parameter type {kind!r} is not supported") from None
