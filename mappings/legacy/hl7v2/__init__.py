"""CHCS HL7 v2 feeds: SIU scheduling, RDE/RDS pharmacy and ADT messages, read with
python-hl7 (``hl7``) into the legacy facts; ACKs for the MLLP listener."""
