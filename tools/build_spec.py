"""Compile the official R4 StructureDefinitions into fhir_server/spec/elements.json.gz.

The output drives the JSON shape checker (``fhir_server.validation.shape``, after
https://hl7.org/fhir/R4/json.html). It is one gzipped JSON object::

    {
      "fhirVersion": "4.0.1",
      "primitives": {"boolean": "boolean", "decimal": "number", "integer": "integer", ...},
      "resources": ["Account", ...],
      "types": {
        "Patient": {
          "active": {"array": false, "types": ["boolean"]},
          "contact": {"array": true, "types": ["Patient.contact"]},
          "deceased[x]": {"array": false, "types": ["boolean", "dateTime"]},
          ...
        },
        "Patient.contact": {...},
        "Questionnaire.item": {"item": {"array": true, "types": ["Questionnaire.item"]}, ...},
        "Element": {"extension": {...}, "id": {"array": false, "attribute": true, ...}},
        ...
      }
    }

* ``primitives`` maps every primitive type to its JSON type: ``boolean``, ``integer`` (a JSON
  number without a fraction), ``number`` or ``string``.
* ``types`` holds every resource type, every complex data type and every backbone element: an
  element whose type is ``BackboneElement``/``Element`` gets its own entry, named by its path,
  and that path is its type. A ``contentReference`` (``Questionnaire.item.item`` ->
  ``#Questionnaire.item``) is resolved to the entry it refers to.
* ``array`` is ``max != "1"``. Choice elements keep their ``name[x]`` name and list their types;
  the JSON names are ``name`` + the type with its first letter capitalised.
* ``Resource`` as a type means a contained resource (``contained``, ``Bundle.entry.resource``).
* ``attribute`` marks the XML attributes ``Element.id`` and ``Extension.url``: plain strings that
  cannot carry extensions, so they have no ``_name`` companion in JSON.

Run from the repo root: ``.venv/bin/python tools/build_spec.py``; the output is deterministic.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "data" / "fhir-r4-definitions"
TARGET = ROOT / "fhir_server" / "spec" / "elements.json.gz"

FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
SYSTEM_PREFIX = "http://hl7.org/fhirpath/System."
# JSON representation of a primitive, by the FHIRPath system type of its ``value``.
JSON_OF_SYSTEM = {"Boolean": "boolean", "Integer": "integer", "Decimal": "number"}
BACKBONE_TYPES = {"BackboneElement", "Element"}

Element = dict[str, Any]


def read_bundle(name: str) -> list[dict[str, Any]]:
    raw = (SOURCE / name).read_bytes()
    bundle = json.loads(gzip.decompress(raw) if name.endswith(".gz") else raw)
    return [entry["resource"] for entry in bundle["entry"]]


def type_code(type_: dict[str, Any]) -> str:
    """The FHIR type of one ElementDefinition.type: System.String + fhir-type ext -> that type."""
    code: str = type_["code"]
    if not code.startswith(SYSTEM_PREFIX):
        return code
    for ext in type_.get("extension", []):
        if ext["url"] == FHIR_TYPE_EXT:
            fhir_type: str = ext["valueUrl"]
            return fhir_type
    return "string"


def primitive_json_types(sds: list[dict[str, Any]]) -> dict[str, str]:
    """``boolean``, ``integer``, ``number`` or ``string``: how JSON carries each primitive.

    A primitive derived from another (positiveInt from integer, code from string) is carried like
    its base: the R4 definitions give positiveInt.value and unsignedInt.value the FHIRPath type
    System.String, yet json.html says they are JSON numbers.
    """
    by_type = {sd["type"]: sd for sd in sds if sd["kind"] == "primitive-type"}

    def json_type(name: str) -> str:
        sd = by_type[name]
        base = sd["baseDefinition"].rsplit("/", 1)[-1]
        if base in by_type:
            return json_type(base)
        (value,) = [el for el in sd["snapshot"]["element"] if el["path"] == f"{name}.value"]
        (type_,) = value["type"]
        return JSON_OF_SYSTEM.get(type_["code"].removeprefix(SYSTEM_PREFIX), "string")

    return {name: json_type(name) for name in sorted(by_type)}


def compile_structure(sd: dict[str, Any], out: dict[str, dict[str, Element]]) -> None:
    """Add the entries of one StructureDefinition (the type and its backbone elements)."""
    root = sd["type"]
    elements = sd["snapshot"]["element"]
    by_path = {el["path"]: el for el in elements if ":" not in el["id"]}
    # Backbone elements: elements that have children of their own.
    parents = {path.rsplit(".", 1)[0] for path in by_path if "." in path}
    out[root] = {}
    for path, el in by_path.items():
        if "." not in path or el.get("max") == "0":
            continue
        parent, name = path.rsplit(".", 1)
        entry: Element = {"array": el["max"] != "1"}
        if "contentReference" in el:
            target = el["contentReference"].removeprefix("#")
            if target not in by_path:
                raise SystemExit(f"{path}: contentReference {target} not found")
            entry["types"] = [target]
        else:
            codes = sorted({type_code(t) for t in el["type"]})
            if path in parents:
                if not set(codes) <= BACKBONE_TYPES:
                    raise SystemExit(f"{path}: children under type {codes}")
                codes = [path]
            entry["types"] = codes
            if "xmlAttr" in el.get("representation", []):
                entry["attribute"] = True
        if len(entry["types"]) > 1 and not name.endswith("[x]"):
            raise SystemExit(f"{path}: several types but not a choice element")
        out.setdefault(parent, {})[name] = entry


def build() -> bytes:
    """The gzipped bytes of elements.json.gz, the same for the same definitions."""
    types_bundle = read_bundle("profiles-types.json")
    resources_bundle = read_bundle("profiles-resources.json.gz")

    primitives = primitive_json_types(types_bundle)
    structures: dict[str, dict[str, Element]] = {}
    resources: list[str] = []
    for sd in types_bundle:
        if sd["kind"] == "complex-type" and sd.get("derivation") != "constraint":
            compile_structure(sd, structures)
    for sd in resources_bundle:
        if sd["kind"] == "resource" and not sd.get("abstract"):
            resources.append(sd["type"])
            compile_structure(sd, structures)

    known = set(primitives) | set(structures) | {"Resource"}
    for owner, elements in structures.items():
        for name, entry in elements.items():
            missing = set(entry["types"]) - known
            if missing:
                raise SystemExit(f"{owner}.{name}: unknown types {sorted(missing)}")

    data = {
        "fhirVersion": "4.0.1",
        "primitives": primitives,
        "resources": sorted(resources),
        "types": structures,
    }
    raw = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    # mtime=0 and no file name in the header: identical input gives identical bytes.
    return gzip.compress(raw, compresslevel=9, mtime=0)


def main() -> None:
    data = build()
    TARGET.write_bytes(data)
    spec = json.loads(gzip.decompress(data))
    n_elements = sum(map(len, spec["types"].values()))
    print(
        f"{TARGET.relative_to(ROOT)}: {len(spec['resources'])} resources, "
        f"{len(spec['types'])} types, {n_elements} elements, {len(data)} bytes gzipped"
    )


if __name__ == "__main__":
    main()
