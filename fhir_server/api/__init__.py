"""The FHIR HTTP layer: content types, headers, Prefer, status codes. It adapts; it decides
nothing (the interactions do)."""
