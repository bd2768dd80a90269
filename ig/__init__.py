"""The MHS implementation guide: profiles, extensions, terminology and search parameters.

Conformance resources live beside this file as JSON data and ship with the package.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent
