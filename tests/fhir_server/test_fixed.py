"""``@fixed``: plain slotted dataclasses at run time, frozen and keyword-only to mypy."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from mypy import api as mypy_api

from fhir_server.fixed import fixed


@fixed
class Point:
    x: int
    y: int = 0


def test_a_fixed_class_takes_keywords_and_compares_by_values() -> None:
    assert Point(x=1) == Point(x=1, y=0)
    assert Point(x=1) != Point(x=2)
    with pytest.raises(TypeError):
        Point(1)  # type: ignore[misc]


def test_a_fixed_class_has_slots_and_no_instance_dict() -> None:
    assert not hasattr(Point(x=1), "__dict__")


def test_mypy_refuses_assignments_to_a_fixed_class(tmp_path: Path) -> None:
    source = tmp_path / "uses_fixed.py"
    source.write_text(
        textwrap.dedent(
            """
            from fhir_server.fixed import fixed

            @fixed
            class Point:
                x: int

            point = Point(x=1)
            point.x = 2
            Point(1)
            """
        )
    )
    out, _, status = mypy_api.run([str(source), "--no-incremental", "--follow-imports=silent"])
    assert status == 1, out
    assert '"x" defined in "Point" is read-only' in out
    assert "Too many positional arguments" in out
