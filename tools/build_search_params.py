"""Compile official R4 search definitions into data files under fhir_server/spec/.

- search-parameters.json: {resourceType: {code: {"type", "url", "expression", "target"?,
  "component"?}}} where ``expression`` keeps only the parts of the FHIRPath union that apply
  to that type, and composite components name their parameter by code.
- compartment-patient.json: {resourceType: [codes of the parameters that put a resource of
  that type in a Patient's compartment]} (only types that can be in one).
- summary-elements.json: {resourceType: {"summary": [top-level elements marked isSummary],
  "mandatory": [top-level elements with min > 0]}} for ``_summary``.

Run from the repo root: ``.venv/bin/python tools/build_search_params.py``; the output is
deterministic.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFINITIONS = ROOT.parent / "shared" / "data" / "fhir-r4-definitions"
SOURCE = DEFINITIONS / "search-parameters.json"
TARGET = ROOT / "fhir_server" / "spec" / "search-parameters.json"
COMPARTMENT = ROOT / "fhir_server" / "spec" / "compartment-patient.json"
SUMMARY = ROOT / "fhir_server" / "spec" / "summary-elements.json"


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
    params = [entry["resource"] for entry in bundle["entry"]]
    code_of = {sp["url"]: sp["code"] for sp in params}
    out: dict[str, dict[str, dict[str, object]]] = {}
    for sp in params:
        for base in sp["base"]:
            expr = sp.get("expression", "")
            if base in ("Resource", "DomainResource"):
                mine = expr
            else:
                mine = " | ".join(p for p in split_union(expr) if applies_to(p, base))
            definition: dict[str, object] = {
                "type": sp["type"],
                "url": sp["url"],
                "expression": mine,
            }
            if sp.get("target"):
                definition["target"] = sorted(sp["target"])
            if sp.get("component"):
                definition["component"] = [
                    {"code": code_of[c["definition"]], "expression": c["expression"]}
                    for c in sp["component"]
                ]
            out.setdefault(base, {})[sp["code"]] = definition
    TARGET.write_text(json.dumps(out, indent=0, sort_keys=True) + "\n")
    print(f"{TARGET.relative_to(ROOT)}: {sum(map(len, out.values()))} parameters")
    compartment = json.loads((DEFINITIONS / "CompartmentDefinition-patient.json").read_text())
    members = {r["code"]: r["param"] for r in compartment["resource"] if r.get("param")}
    COMPARTMENT.write_text(json.dumps(members, indent=0, sort_keys=True) + "\n")
    print(f"{COMPARTMENT.relative_to(ROOT)}: {len(members)} resource types")
    summary: dict[str, dict[str, list[str]]] = {}
    with gzip.open(DEFINITIONS / "profiles-resources.json.gz", "rt") as source:
        definitions = json.load(source)
    for entry in definitions["entry"]:
        sd = entry["resource"]
        if sd.get("kind") != "resource" or sd.get("abstract"):
            continue
        mine: dict[str, list[str]] = {"summary": [], "mandatory": []}
        for element in sd["snapshot"]["element"]:
            parts = element["path"].split(".")
            if len(parts) != 2:
                continue
            name = parts[1]
            if element.get("isSummary"):
                mine["summary"].append(name)
            if element.get("min", 0) > 0:
                mine["mandatory"].append(name)
        summary[sd["type"]] = mine
    SUMMARY.write_text(json.dumps(summary, indent=0, sort_keys=True) + "\n")
    print(f"{SUMMARY.relative_to(ROOT)}: {len(summary)} resource types")


if __name__ == "__main__":
    main()
