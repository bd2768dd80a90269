"""Legacy facts -> FHIR resources: pure functions, one module per resource kind, plus the
directory (Practitioner, Location, Organization, HealthcareService, Schedule) they point at."""
