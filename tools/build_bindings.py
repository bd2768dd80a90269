"""Compile the codes allowed by required bindings on ``code`` elements into
fhir_server/spec/required-codes.json: {resourceType: {element path: [codes]}}.

Reads the official R4 StructureDefinitions (../shared/data/fhir-r4-definitions/) and the
ValueSets and CodeSystems of the R4 core package (../shared/data/fhir-packages/). Only value
sets that include whole code systems (or enumerate codes) are compiled; a binding whose value
set cannot be expanded this way is left unchecked. Deterministic output.
Run from the repo root: ``.venv/bin/python tools/build_bindings.py``.
"""

from __future__ import annotations

import gzip
import json
import tarfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
TARGET = ROOT / "fhir_server" / "spec" / "required-codes.json"


def _package() -> dict[str, dict[str, Any]]:
    """ValueSets and CodeSystems of the core package, by canonical URL."""
    out: dict[str, dict[str, Any]] = {}
    with tarfile.open(SHARED / "fhir-packages" / "hl7.fhir.r4.core-4.0.1.tgz") as package:
        for member in package.getmembers():
            name = Path(member.name).name
            if name.startswith(("ValueSet-", "CodeSystem-")) and name.endswith(".json"):
                source = package.extractfile(member)
                if source is not None:
                    resource = json.load(source)
                    out[resource["url"]] = resource
    return out


def _concepts(concepts: list[dict[str, Any]]) -> list[str]:
    codes = []
    for concept in concepts:
        codes.append(concept["code"])
        codes.extend(_concepts(concept.get("concept", [])))
    return codes


def _expand(url: str, known: dict[str, dict[str, Any]]) -> list[str] | None:
    value_set = known.get(url.split("|", 1)[0])
    if value_set is None or "compose" not in value_set or value_set["compose"].get("exclude"):
        return None
    codes: list[str] = []
    for include in value_set["compose"]["include"]:
        if include.get("filter") or include.get("valueSet"):
            return None
        if include.get("concept"):
            codes.extend(c["code"] for c in include["concept"])
            continue
        system = known.get(include.get("system", ""))
        if system is None or system.get("content") != "complete":
            return None
        codes.extend(_concepts(system.get("concept", [])))
    return sorted(set(codes)) or None


def main() -> None:
    known = _package()
    with gzip.open(SHARED / "fhir-r4-definitions" / "profiles-resources.json.gz", "rt") as f:
        definitions = json.load(f)
    out: dict[str, dict[str, list[str]]] = {}
    for entry in definitions["entry"]:
        sd = entry["resource"]
        if sd.get("kind") != "resource" or sd.get("abstract"):
            continue
        for element in sd["snapshot"]["element"]:
            binding = element.get("binding") or {}
            types = [t["code"] for t in element.get("type", [])]
            if binding.get("strength") != "required" or types != ["code"]:
                continue
            codes = _expand(binding.get("valueSet", ""), known)
            if codes:
                out.setdefault(sd["type"], {})[element["path"]] = codes
    TARGET.write_text(json.dumps(out, indent=0, sort_keys=True) + "\n")
    print(f"{TARGET.relative_to(ROOT)}: {sum(map(len, out.values()))} bound elements")


if __name__ == "__main__":
    main()
