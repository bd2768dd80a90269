"""Legacy imports: TRICARE Online (TOL) exports and CHCS HL7 v2 feeds into Appointment,
Communication, MedicationRequest and Patient updates (see README.md)."""
