// Invariants of the profiles. Each is a FHIRPath expression on the resource (not on an element),
// so tests/ig/test_ig_build.py evaluates them against the examples.

Invariant: mhs-pat-1
Description: "The DoD ID (EDIPI) is 10 digits"
Expression: "identifier.where(system = 'http://fhir.mhs-fhir.example/sid/dod-id').all(value.matches('^[0-9]{10}$'))"
Severity: #error

Invariant: mhs-pat-2
Description: "The DoD Benefits Number is 11 digits"
Expression: "identifier.where(system = 'http://fhir.mhs-fhir.example/sid/dod-benefits-number').all(value.matches('^[0-9]{11}$'))"
Severity: #error

Invariant: mhs-pat-3
Description: "An SSN is kept only with an inline security label"
Expression: "identifier.where(system = 'http://hl7.org/fhir/sid/us-ssn').all(extension.where(url = 'http://hl7.org/fhir/uv/security-label-ds4p/StructureDefinition/extension-inline-sec-label').exists())"
Severity: #error

Invariant: mhs-rp-1
Description: "The related person's (sponsor's or guardian's) DoD ID is 10 digits"
Expression: "identifier.where(system = 'http://fhir.mhs-fhir.example/sid/dod-id').all(value.matches('^[0-9]{10}$'))"
Severity: #error

Invariant: mhs-cov-1
Description: "The sponsor (subscriber) is named by a 10-digit DoD ID"
Expression: "subscriber.identifier.where(system = 'http://fhir.mhs-fhir.example/sid/dod-id').value.matches('^[0-9]{10}$')"
Severity: #error

Invariant: mhs-apt-1
Description: "An appointment does not end before it starts"
Expression: "(start.exists() and end.exists()) implies end >= start"
Severity: #error

Invariant: mhs-rx-1
Description: "The medication is coded with RxNorm or NDC"
Expression: "(medication as CodeableConcept).coding.where(system = 'http://www.nlm.nih.gov/research/umls/rxnorm' or system = 'http://hl7.org/fhir/sid/ndc').exists()"
Severity: #error
