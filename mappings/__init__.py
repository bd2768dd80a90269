"""Eligibility (DEERS, X12 271) and legacy (TRICARE Online, CHCS HL7 v2) data -> FHIR."""
