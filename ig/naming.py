"""Identifier systems of the MHS implementation guide (NamingSystems come with the IG)."""

from __future__ import annotations

DOD_ID = "http://fhir.mhs-fhir.example/sid/dod-id"
"""EDIPI / DoD ID: 10 digits, one per person across roles."""

DOD_BENEFITS_NUMBER = "http://fhir.mhs-fhir.example/sid/dod-benefits-number"
"""DoD Benefits Number: 11 digits; the first 9 are shared by the sponsor's family."""
