"""Readable HTML pages of the IG for integrators: one page per profile (its elements with
cardinality, type, binding and description) and an index, written by ``mhs-fhir ig docs``."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

from ig import conformance_resources

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;
color:#1b1b1b;line-height:1.45}table{border-collapse:collapse;width:100%}
th,td{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f0f0f0}code{font-size:.95em}
"""


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main><h1>{escape(title)}</h1>{body}</main></body></html>"
    )


def _types(element: dict[str, Any]) -> str:
    out = []
    for kind in element.get("type", []):
        code = str(kind.get("code", ""))
        targets = kind.get("targetProfile") or kind.get("profile") or []
        names = ", ".join(str(t).rsplit("/", 1)[-1] for t in targets)
        out.append(f"{code}({names})" if names else code)
    return " | ".join(out)


def _binding(element: dict[str, Any]) -> str:
    binding = element.get("binding")
    if not binding:
        return ""
    value_set = str(binding.get("valueSet", ""))
    return f"{binding.get('strength', '')}: {value_set.rsplit('/', 1)[-1]}"


def _fixed(element: dict[str, Any]) -> str:
    for key, value in element.items():
        for prefix in ("fixed", "pattern"):
            if key.startswith(prefix) and key[len(prefix) : len(prefix) + 1].isupper():
                return f"{key}: {value}"
    return ""


def profile_page(profile: dict[str, Any]) -> str:
    rows = []
    for element in profile.get("differential", {}).get("element", []):
        minimum, maximum = element.get("min"), element.get("max")
        cardinality = (
            f"{'' if minimum is None else minimum}..{'' if maximum is None else maximum}"
            if minimum is not None or maximum is not None
            else ""
        )
        description = element.get("short") or element.get("definition") or ""
        notes = " ".join(
            x
            for x in (
                _fixed(element),
                "; ".join(
                    f"{c.get('key')}: {c.get('human')}" for c in element.get("constraint", [])
                ),
            )
            if x
        )
        rows.append(
            "<tr>"
            f"<td><code>{escape(str(element.get('id', element.get('path'))))}</code></td>"
            f"<td>{escape(cardinality)}</td><td>{escape(_types(element))}</td>"
            f"<td>{escape(_binding(element))}</td>"
            f"<td>{escape(str(description))}{'<br>' + escape(notes) if notes else ''}</td></tr>"
        )
    body = (
        f"<p>{escape(str(profile.get('description', '')))}</p>"
        f"<p>Canonical URL: <code>{escape(str(profile.get('url')))}</code><br>"
        f"Profiles: <code>{escape(str(profile.get('type')))}</code></p>"
        "<table><thead><tr><th>Element</th><th>Card.</th><th>Type</th><th>Binding</th>"
        "<th>Description and rules</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
        "<p><a href='index.html'>All profiles</a></p>"
    )
    return _page(str(profile.get("title") or profile.get("name")), body)


def write_docs(out: Path) -> list[Path]:
    """Write a page per profile and extension, and ``index.html``; return the pages written."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    items = []
    definitions = [
        r for r in conformance_resources() if r.get("resourceType") == "StructureDefinition"
    ]
    for definition in sorted(definitions, key=lambda d: str(d.get("name"))):
        name = f"{definition.get('id')}.html"
        (out / name).write_text(profile_page(definition), encoding="utf-8")
        written.append(out / name)
        kind = "extension" if definition.get("type") == "Extension" else "profile"
        title = escape(str(definition.get("title") or definition.get("name")))
        items.append(
            f"<li><a href='{escape(name)}'>{title}</a>"
            f" ({kind} of {escape(str(definition.get('type')))})</li>"
        )
    index = _page("MHS implementation guide", "<ul>" + "".join(items) + "</ul>")
    (out / "index.html").write_text(index, encoding="utf-8")
    written.append(out / "index.html")
    return written
