"""mhs-fhir: a FHIR R4 server for military health beneficiaries."""
