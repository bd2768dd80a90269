"""Eligibility import: DEERS-style extracts (fixed-width or CSV) and X12 271 responses into
Patient, RelatedPerson, Coverage and Organization resources (see README.md here)."""
