"""Splitting search values: comma = OR, ``|`` between system and code, ``\\`` escapes.

Spec: https://hl7.org/fhir/R4/search.html#escaping
"""

from __future__ import annotations

from fhir_server.errors import InvalidSearch


def split_unescaped(value: str, sep: str) -> list[str]:
    """Split at ``sep`` not preceded by a backslash; keep escapes for the next split."""
    if "\\" not in value:
        return value.split(sep)
    parts, current, i = [], [], 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            current.append(value[i : i + 2])
            i += 2
            continue
        if ch == sep:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return parts


def unescape(value: str) -> str:
    """The value with ``\\\\ \\, \\| \\$`` escapes resolved; any other backslash is an
    error (search.html#escaping: ``xx\\xx`` is illegal)."""
    if "\\" not in value:
        return value
    out, i = [], 0
    while i < len(value):
        if value[i] == "\\":
            if i + 1 >= len(value) or value[i + 1] not in "\\,|$":
                raise InvalidSearch(
                    f"{value!r} has an illegal escape: a backslash escapes only \\\\ , | or $"
                )
            out.append(value[i + 1])
            i += 2
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def token(value: str) -> tuple[str | None, str | None]:
    """``[system]|[code]`` -> (system, code): ``|code`` is (``""``, code), ``code`` is
    (None, code), ``system|`` is (system, None)."""
    pieces = split_unescaped(value, "|")
    if len(pieces) == 1:
        return None, unescape(pieces[0])
    if len(pieces) != 2:
        raise InvalidSearch(f"a token has at most one unescaped '|': {value!r}")
    system, code = unescape(pieces[0]), unescape(pieces[1])
    return system, (code or None)
