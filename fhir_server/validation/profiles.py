"""Validation against a profile (a StructureDefinition's differential over its base type).

What a profile may say, and what is checked here, element by element of the differential:

- cardinality (``min``/``max``), per parent instance;
- slices: identifiers sliced by ``system`` (the slice's ``system`` carries a fixed or pattern
  URI) and extensions sliced by ``url`` (the slice's type names the extension), each slice
  with its own cardinality;
- ``fixed[x]`` (equal) and ``pattern[x]`` (the value contains the pattern);
- required bindings to value sets the registry knows (the IG's, expanded from its code
  systems);
- invariants (``constraint`` with severity error), as FHIRPath through fhirpathpy;
- reference targets (``Reference(Patient)``): a literal reference must name an allowed type.

Every problem is an :class:`~fhir_server.errors.Issue` whose expression points at the
offending element (``Patient.identifier[0].system``). The base validation (JSON shape, the
R4B models) runs before and is not repeated.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fhir_server.errors import Issue

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Node:
    value: Any
    path: str  # a FHIRPath-style location, e.g. Patient.identifier[1].system


@dataclass(slots=True)
class ProfileRegistry:
    """Profiles by canonical URL and value sets (as code sets) by canonical URL."""

    profiles: dict[str, Json] = field(default_factory=dict)
    value_sets: dict[str, frozenset[tuple[str | None, str]]] = field(default_factory=dict)
    _compiled: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_resources(cls, resources: Sequence[Json]) -> ProfileRegistry:
        """From conformance resources: StructureDefinitions (constraints), CodeSystems and
        ValueSets (expanded by their ``compose.include`` of whole systems or listed codes)."""
        registry = cls()
        systems: dict[str, list[str]] = {}
        for resource in resources:
            kind = resource.get("resourceType")
            if kind == "StructureDefinition" and resource.get("derivation") == "constraint":
                registry.profiles[str(resource["url"])] = resource
            elif kind == "CodeSystem":
                systems[str(resource["url"])] = [str(c["code"]) for c in _concepts(resource)]
        for resource in resources:
            if resource.get("resourceType") != "ValueSet":
                continue
            codes: set[tuple[str | None, str]] = set()
            for include in resource.get("compose", {}).get("include", []):
                system = include.get("system")
                listed = include.get("concept")
                if listed:
                    codes.update((system, str(c["code"])) for c in listed)
                elif system in systems:
                    codes.update((system, code) for code in systems[system])
            registry.value_sets[str(resource["url"])] = frozenset(codes)
        return registry

    def issues(self, resource: Mapping[str, Any], profile_url: str) -> list[Issue]:
        """Every way ``resource`` fails the profile (an unknown profile is one issue)."""
        profile = self.profiles.get(profile_url.split("|")[0])
        if profile is None:
            return [
                Issue(
                    code="not-supported",
                    diagnostics=f"this server does not know the profile {profile_url}",
                    expression=(f"{resource.get('resourceType')}.meta.profile",),
                )
            ]
        if profile.get("type") != resource.get("resourceType"):
            return [
                Issue(
                    code="invalid",
                    diagnostics=f"{profile_url} profiles {profile.get('type')}, not"
                    f" {resource.get('resourceType')}",
                    expression=("resourceType",),
                )
            ]
        issues: list[Issue] = []
        for layer in self.lineage(profile):  # a profile's IG parents apply too
            issues.extend(_Checker(self, dict(resource), layer).run())
        return issues

    def compiled(self, expression: str) -> Any:
        """An invariant compiled once, with the R4 model (so choice elements such as
        ``medication as CodeableConcept`` resolve)."""
        if expression not in self._compiled:
            from fhirpathpy import compile as fhirpath_compile
            from fhirpathpy.models import models

            self._compiled[expression] = fhirpath_compile(expression, model=models["r4"])
        return self._compiled[expression]

    def type_of(self, target_profile: str) -> str:
        """The resource type a ``targetProfile`` (core or IG profile) stands for."""
        profile = self.profiles.get(target_profile.split("|")[0])
        if profile is not None:
            return str(profile.get("type"))
        return target_profile.rstrip("/").rsplit("/", 1)[-1]

    def lineage(self, profile: Json) -> list[Json]:
        """The profile and its parents within the registry, base first."""
        chain = [profile]
        seen = {str(profile.get("url"))}
        parent = self.profiles.get(str(profile.get("baseDefinition", "")))
        while parent is not None and str(parent.get("url")) not in seen:
            chain.insert(0, parent)
            seen.add(str(parent.get("url")))
            parent = self.profiles.get(str(parent.get("baseDefinition", "")))
        return chain


def _concepts(code_system: Json) -> Iterator[Json]:
    stack = list(code_system.get("concept", []))
    while stack:
        concept = stack.pop(0)
        yield concept
        stack.extend(concept.get("concept", []))


_CHOICE_VALUE_PREFIXES = ("fixed", "pattern")


def _typed_value(element: Json, prefix: str) -> tuple[bool, Any]:
    for key, value in element.items():
        if key.startswith(prefix) and key[len(prefix) : len(prefix) + 1].isupper():
            return True, value
    return False, None


def _contains(value: Any, pattern: Any) -> bool:
    """FHIR pattern matching: every element of the pattern is in the value (arrays: each
    pattern item matches some value item)."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            k in value and _contains(value[k], v) for k, v in pattern.items()
        )
    if isinstance(pattern, list):
        return isinstance(value, list) and all(
            any(_contains(item, p) for item in value) for p in pattern
        )
    return bool(value == pattern)


def _reference_type(reference: Json) -> str | None:
    """The type a literal or conditional reference names (None: contained, urn, logical)."""
    value = reference.get("reference")
    if not isinstance(value, str) or value.startswith(("#", "urn:")):
        return None
    if "?" in value:
        return value.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
    parts = value.rstrip("/").split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    return parts[-2] if len(parts) >= 2 else None


def _element_name(path: str) -> str:
    return path.rsplit(".", 1)[-1]


class _Checker:
    """One resource against one profile."""

    def __init__(self, registry: ProfileRegistry, resource: Json, profile: Json) -> None:
        self.registry = registry
        self.resource = resource
        self.type = str(resource["resourceType"])
        self.elements: list[Json] = list(profile.get("differential", {}).get("element", []))
        self.by_id: dict[str, Json] = {str(e.get("id", e["path"])): e for e in self.elements}
        self.problems: list[Issue] = []

    def run(self) -> list[Issue]:
        for element in self.elements:
            element_id = str(element.get("id", element["path"]))
            if "." not in element_id:
                self._invariants(element, [Node(self.resource, self.type)])
                continue
            parents = self.nodes(element_id.rsplit(".", 1)[0])
            for parent in parents:
                found = self.children(parent, element_id)
                self._cardinality(element, parent, found)
                for node in found:
                    self._choice_type(element_id, element, node)
                    self._values(element, node)
        return self.problems

    # -- finding the nodes an element id names -------------------------------------------------

    def nodes(self, element_id: str) -> list[Node]:
        if "." not in element_id:
            return [Node(self.resource, self.type)]
        parents = self.nodes(element_id.rsplit(".", 1)[0])
        out: list[Node] = []
        for parent in parents:
            out.extend(self.children(parent, element_id))
        return out

    def children(self, parent: Node, element_id: str) -> list[Node]:
        """The values ``element_id``'s last step selects under ``parent``."""
        step = element_id.rsplit(".", 1)[1]
        name, _, slice_name = step.partition(":")
        if not isinstance(parent.value, dict):
            return []
        out: list[Node] = []
        if name.endswith("[x]"):
            stem = name[:-3]
            for key, value in parent.value.items():
                if key.startswith(stem) and key[len(stem) : len(stem) + 1].isupper():
                    out.extend(self._items(parent, key, value))
        elif name in parent.value:
            out.extend(self._items(parent, name, parent.value[name]))
        if slice_name:
            out = [n for n in out if self._in_slice(element_id, n)]
        return out

    @staticmethod
    def _items(parent: Node, key: str, value: Any) -> Iterator[Node]:
        if isinstance(value, list):
            for i, item in enumerate(value):
                yield Node(item, f"{parent.path}.{key}[{i}]")
        else:
            yield Node(value, f"{parent.path}.{key}")

    def _in_slice(self, slice_id: str, node: Node) -> bool:
        """Slice membership by the discriminators this validator knows: an extension's url
        (from the slice's type profile) or a child's fixed/pattern value (identifier.system)."""
        element = self.by_id.get(slice_id, {})
        if not isinstance(node.value, dict):
            return False
        if _element_name(slice_id.split(":")[0]) in ("extension", "modifierExtension"):
            urls = [p for t in element.get("type", []) for p in t.get("profile", [])]
            if urls:
                return node.value.get("url") in urls
        matched_any = False
        for child_id, child in self.by_id.items():
            if not child_id.startswith(slice_id + "."):
                continue
            rest = child_id[len(slice_id) + 1 :]
            if "." in rest or ":" in rest:
                continue
            targets = [
                self.registry.type_of(str(p))
                for kind in child.get("type", [])
                if kind.get("code") == "Reference"
                for p in kind.get("targetProfile", [])
            ]
            if targets and self._discriminated_by_type(slice_id):
                # slicing by the type of what a reference resolves to (e.g. actor.resolve())
                reference = node.value.get(rest)
                if not isinstance(reference, dict) or _reference_type(reference) not in targets:
                    return False
                matched_any = True
        for child_id, child in self.by_id.items():
            if not child_id.startswith(slice_id + "."):
                continue
            rest = child_id[len(slice_id) + 1 :]
            if "." in rest or ":" in rest:
                continue
            for prefix in _CHOICE_VALUE_PREFIXES:
                has, expected = _typed_value(child, prefix)
                if has:
                    matched_any = True
                    actual = node.value.get(rest)
                    if not _contains(actual, expected):
                        return False
        return matched_any

    def _discriminated_by_type(self, slice_id: str) -> bool:
        base = self.by_id.get(slice_id.split(":")[0], {})
        return any(
            d.get("type") == "type" for d in base.get("slicing", {}).get("discriminator", [])
        )

    # -- the rules -----------------------------------------------------------------------------

    def _cardinality(self, element: Json, parent: Node, found: list[Node]) -> None:
        element_id = str(element.get("id", element["path"]))
        where = f"{parent.path}.{_element_name(element_id).split(':')[0].replace('[x]', '')}"
        minimum = element.get("min")
        if isinstance(minimum, int) and len(found) < minimum:
            what = element_id.rsplit(".", 1)[1]
            self.problems.append(
                Issue(
                    code="required",
                    diagnostics=f"{what}: at least {minimum} required, {len(found)} found",
                    expression=(where,),
                )
            )
        maximum = element.get("max")
        if isinstance(maximum, str) and maximum != "*" and len(found) > int(maximum):
            what = element_id.rsplit(".", 1)[1]
            self.problems.append(
                Issue(
                    code="structure",
                    diagnostics=f"{what}: at most {maximum} allowed, {len(found)} found",
                    expression=(found[int(maximum)].path,),
                )
            )

    def _choice_type(self, element_id: str, element: Json, node: Node) -> None:
        """A choice element (``medication[x]``) limited to some types: the JSON key's type
        suffix must be one of them."""
        step = element_id.rsplit(".", 1)[1].split(":")[0]
        codes = [str(t.get("code", "")) for t in element.get("type", [])]
        if not step.endswith("[x]") or not codes:
            return
        key = node.path.rsplit(".", 1)[1].split("[")[0]
        suffix = key[len(step) - 3 :]
        if not any(suffix.lower() == code.lower() for code in codes):
            self.problems.append(
                Issue(
                    code="structure",
                    diagnostics=f"{step} must be {' or '.join(codes)}, not {suffix}",
                    expression=(node.path,),
                )
            )

    def _values(self, element: Json, node: Node) -> None:
        has, fixed = _typed_value(element, "fixed")
        if has and node.value != fixed:
            self.problems.append(
                Issue(code="value", diagnostics=f"must be {fixed!r}", expression=(node.path,))
            )
        has, pattern = _typed_value(element, "pattern")
        if has and not _contains(node.value, pattern):
            self.problems.append(
                Issue(code="value", diagnostics=f"must match {pattern!r}", expression=(node.path,))
            )
        self._binding(element, node)
        self._targets(element, node)
        self._invariants(element, [node])

    def _binding(self, element: Json, node: Node) -> None:
        binding = element.get("binding")
        if not binding or binding.get("strength") != "required":
            return
        value_set = str(binding.get("valueSet", "")).split("|")[0]
        codes = self.registry.value_sets.get(value_set)
        if codes is None:
            return  # a value set of the core spec: the base validation checks those
        if not self._coded_in(node.value, codes):
            self.problems.append(
                Issue(
                    code="code-invalid",
                    diagnostics=f"not a code of {value_set}",
                    expression=(node.path,),
                )
            )

    @staticmethod
    def _coded_in(value: Any, codes: frozenset[tuple[str | None, str]]) -> bool:
        if isinstance(value, str):
            return any(code == value for _, code in codes)
        if isinstance(value, dict) and "coding" in value:
            return any(
                (c.get("system"), c.get("code")) in codes
                for c in value.get("coding", [])
                if isinstance(c, dict)
            )
        if isinstance(value, dict) and "code" in value:
            return (value.get("system"), value.get("code")) in codes
        return False

    def _targets(self, element: Json, node: Node) -> None:
        allowed: list[str] = []
        for kind in element.get("type", []):
            if kind.get("code") == "Reference":
                allowed.extend(self.registry.type_of(str(p)) for p in kind.get("targetProfile", []))
        if not allowed or not isinstance(node.value, dict):
            return
        target_type = _reference_type(node.value)
        if target_type is None:
            return
        if target_type not in allowed and "Resource" not in allowed:
            self.problems.append(
                Issue(
                    code="value",
                    diagnostics=f"must refer to {' or '.join(allowed)}, not {target_type}",
                    expression=(f"{node.path}.reference",),
                )
            )

    def _invariants(self, element: Json, nodes: list[Node]) -> None:
        for constraint in element.get("constraint", []):
            if constraint.get("severity") != "error" or "expression" not in constraint:
                continue
            evaluate = self.registry.compiled(str(constraint["expression"]))
            for node in nodes:
                try:
                    result = evaluate(node.value)
                except Exception:  # an expression that cannot be evaluated fails closed
                    result = [False]
                # true passes; so does empty (nothing there to check), as in the spec's
                # validator; anything else fails
                if all(r is True for r in result):
                    continue
                self.problems.append(
                    Issue(
                        code="invariant",
                        diagnostics=f"{constraint.get('key')}: {constraint.get('human')}",
                        expression=(node.path,),
                    )
                )
