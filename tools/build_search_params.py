"""Compile the official R4 SearchParameter bundle into fhir_server/spec/search-parameters.json.

Output: {resourceType: {code: {"type", "url", "expression"}}} where ``expression`` keeps only
the parts of the FHIRPath union that apply to that type. Run from the repo root:
``.venv/bin/python tools/build_search_params.py``; the output is deterministic.
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "data" / "fhir-r4-definitions" / "search-parameters.json"
TARGET = ROOT / "fhir_server" / "spec" / "search-parameters.json"


def split_union(expression: str) -> list[str]:
    """Split a FHIRPath union at top-level ``|`` (not inside parentheses or strings)."""
    parts, depth, quote, start = [], 0, False, 0
    for i, ch in enumerate(expression):
        if ch == "'":
            quote = not quote
        elif not quote and ch == "(":
            depth += 1
        elif not quote and ch == ")":
            depth -= 1
        elif not quote and depth == 0 and ch == "|":
            parts.append(expression[start:i].strip())
            start = i + 1
    parts.append(expression[start:].strip())
    return [p for p in parts if p]


def applies_to(part: str, type_: str) -> bool:
    bare = part.lstrip("(")
    return bare.startswith(f"{type_}.") or bare == type_ or bare.startswith(f"{type_} ")


def main() -> None:
    bundle = json.loads(SOURCE.read_text())
    out: dict[str, dict[str, dict[str, str]]] = {}
    for entry in bundle["entry"]:
        sp = entry["resource"]
        for base in sp["base"]:
            expr = sp.get("expression", "")
            if base in ("Resource", "DomainResource"):
                mine = expr
            else:
                mine = " | ".join(p for p in split_union(expr) if applies_to(p, base))
            out.setdefault(base, {})[sp["code"]] = {
                "type": sp["type"],
                "url": sp["url"],
                "expression": mine,
            }
    TARGET.write_text(json.dumps(out, indent=0, sort_keys=True) + "\n")
    print(f"{TARGET.relative_to(ROOT)}: {sum(map(len, out.values()))} parameters")


if __name__ == "__main__":
    main()
