"""FHIR search: query string -> SearchPlan (engine-independent plain data)."""
