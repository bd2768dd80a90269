"""The MHS implementation guide's names: identifier systems, code systems and extensions
(their NamingSystems, CodeSystems and StructureDefinitions come with the IG)."""

from __future__ import annotations

DOD_ID = "http://fhir.mhs-fhir.example/sid/dod-id"
"""EDIPI / DoD ID: 10 digits, one per person across roles."""

DOD_BENEFITS_NUMBER = "http://fhir.mhs-fhir.example/sid/dod-benefits-number"
"""DoD Benefits Number: 11 digits; the first 9 are shared by the sponsor's family."""

SSN = "http://hl7.org/fhir/sid/us-ssn"
"""US Social Security Number: kept only as a security-labelled identifier."""

DMIS_ID = "http://fhir.mhs-fhir.example/sid/dmis-id"
"""DMIS id: identifies a military treatment facility (an enrollment site)."""

BASE = "http://fhir.mhs-fhir.example"
CODE_SYSTEM = f"{BASE}/CodeSystem"
EXTENSION = f"{BASE}/StructureDefinition"

BENEFICIARY_CATEGORY_SYSTEM = f"{CODE_SYSTEM}/beneficiary-category"
BRANCH_OF_SERVICE_SYSTEM = f"{CODE_SYSTEM}/branch-of-service"
DUTY_STATUS_SYSTEM = f"{CODE_SYSTEM}/duty-status"
DEERS_RELATIONSHIP_SYSTEM = f"{CODE_SYSTEM}/deers-relationship"
TRICARE_PLAN_SYSTEM = f"{CODE_SYSTEM}/tricare-plan"
PAY_GRADE_SYSTEM = f"{CODE_SYSTEM}/pay-grade"

BENEFICIARY_CATEGORY_EXTENSION = f"{EXTENSION}/beneficiary-category"
BRANCH_OF_SERVICE_EXTENSION = f"{EXTENSION}/branch-of-service"
DUTY_STATUS_EXTENSION = f"{EXTENSION}/duty-status"
PAY_GRADE_EXTENSION = f"{EXTENSION}/pay-grade"
