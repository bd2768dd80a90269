"""Mappings into FHIR: DEERS-style eligibility and X12 271 (``eligibility``), and later legacy
TRICARE Online and CHCS HL7 v2 data. Pure functions from input records to resources; loading
goes through the FHIR interactions layer."""
