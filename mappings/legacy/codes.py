"""Every code and system of the legacy imports, in one place: identifier systems, the TOL
export code tables, the HL7 v2 tables read, and what each code becomes in FHIR.

The TOL codes are our own design (no public TOL layout exists, see ``deers-notes.md``); the HL7
v2 codes are the standard tables named on each constant; the FHIR code systems are the
official R4 ones (``hl7.fhir.r4.core`` 4.0.1) unless they are the MHS IG's (``ig/naming.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ig.naming import BASE, CODE_SYSTEM, DMIS_ID, DOD_ID, EXTENSION

__all__ = ["DMIS_ID", "DOD_ID"]

# -- identifier systems ----------------------------------------------------------------------

SID = f"{BASE}/sid"
APPOINTMENT_ID = f"{SID}/chcs-appointment"
"""Appointment: the CHCS appointment number (TOL ``appointment_id``, SIU SCH-2 filler id)."""
SLOT_ID = f"{SID}/chcs-appointment-slot"
"""Slot: one per appointment, the appointment number again."""
RX_NUMBER = f"{SID}/chcs-rx-number"
"""MedicationRequest: the MTF pharmacy prescription (Rx) number (TOL, RXE-15, ORC-3)."""
SECURE_MESSAGE = f"{SID}/tol-secure-message"
"""Communication: the TOL secure message id."""
CLINIC = f"{SID}/mtf-clinic"
"""Location of an MTF clinic: ``<DMIS id>-<clinic code>``."""
MESSAGE_POOL = f"{SID}/mtf-clinic-message-pool"
"""HealthcareService of an MTF clinic's secure messaging: ``<DMIS id>-<clinic code>`` (a
system of its own: the import loader tells stored resources apart by criteria alone)."""
SCHEDULE = f"{SID}/mtf-clinic-schedule"
"""Schedule of an MTF clinic: ``<DMIS id>-<clinic code>``."""
PHARMACY = f"{SID}/mtf-pharmacy"
"""Organization of an MTF pharmacy: ``<DMIS id>-<pharmacy code>``."""
CHCS_PROVIDER = f"{SID}/chcs-provider"
"""Practitioner without an NPI: the CHCS provider number."""
NPI = "http://hl7.org/fhir/sid/us-npi"

# -- code systems ----------------------------------------------------------------------------

NDC = "http://hl7.org/fhir/sid/ndc"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
V2_0276 = "http://terminology.hl7.org/CodeSystem/v2-0276"
CANCELLATION_REASON = "http://terminology.hl7.org/CodeSystem/appointment-cancellation-reason"
PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
MESSAGE_THREAD = f"{CODE_SYSTEM}/tol-message-thread"
"""Communication.topic: the TOL thread id as a code (the thread's subject is the display)."""
TOL_APPOINTMENT_TYPE = f"{CODE_SYSTEM}/tol-appointment-type"
TOL_CANCELLATION_REASON = f"{CODE_SYSTEM}/tol-cancellation-reason"
DRUG_SCHEDULE_UNIT = f"{CODE_SYSTEM}/pharmacy-dispense-unit"

# -- extensions ------------------------------------------------------------------------------

REFILLS_REMAINING_EXTENSION = f"{EXTENSION}/refills-remaining"
"""MedicationRequest: refills left (valueUnsignedInt), as the pharmacy last reported."""
LAST_FILL_EXTENSION = f"{EXTENSION}/last-fill-date"
"""MedicationRequest: the date of the last (re)fill (valueDate)."""


@dataclass(frozen=True, slots=True)
class Code:
    code: str
    display: str

    def coding(self, system: str) -> dict[str, str]:
        return {"system": system, "code": self.code, "display": self.display}


def _table(*codes: tuple[str, str]) -> dict[str, Code]:
    return {code: Code(code, display) for code, display in codes}


# -- appointments ----------------------------------------------------------------------------

TOL_APPOINTMENT_STATUS = {
    "PENDING": "pending",
    "WAITLIST": "waitlist",
    "BOOKED": "booked",
    "ARRIVED": "arrived",
    "CHECKED-IN": "checked-in",
    "KEPT": "fulfilled",
    "CANCELLED": "cancelled",
    "NO-SHOW": "noshow",
    "ERROR": "entered-in-error",
}
"""TOL appointment ``status`` -> Appointment.status."""

FILLER_STATUS = {
    "pending": "pending",
    "waitlist": "waitlist",
    "booked": "booked",
    "overbook": "booked",
    "blocked": "booked",
    "started": "arrived",
    "complete": "fulfilled",
    "cancelled": "cancelled",
    "canceled": "cancelled",
    "dc": "cancelled",
    "discontinued": "cancelled",
    "deleted": "entered-in-error",
    "noshow": "noshow",
}
"""HL7 table 0278 filler status (SCH-25, AIS/AIL/AIP-13), case-insensitive -> status."""

SIU_EVENTS = {
    "S12": ("booked", "new appointment booked"),
    "S13": ("booked", "appointment rescheduled"),
    "S14": ("booked", "appointment modified"),
    "S15": ("cancelled", "appointment cancelled"),
    "S26": ("noshow", "patient did not show up"),
}
"""SIU trigger event -> the status it implies (S12-S14 take SCH-25 when it is valued)."""

TOL_APPOINTMENT_TYPES = _table(
    ("ROUTINE", "Routine"),
    ("ACUTE", "Acute (same day)"),
    ("FOLLOWUP", "Follow-up"),
    ("WELLNESS", "Wellness / physical"),
    ("PROCEDURE", "Procedure"),
    ("TELEHEALTH", "Telehealth / virtual"),
)
"""TOL appointment ``type``."""

V2_APPOINTMENT_REASONS = _table(
    ("CHECKUP", "A routine check-up, such as an annual physical"),
    ("EMERGENCY", "Emergency appointment"),
    ("FOLLOWUP", "A follow up visit from a previous appointment"),
    ("ROUTINE", "Routine appointment - default if not valued"),
    ("WALKIN", "A previously unscheduled walk-in visit"),
)
"""HL7 table 0276 (SCH-7 appointment reason; Appointment.appointmentType)."""

TOL_TYPE_TO_V2 = {
    "ROUTINE": "ROUTINE",
    "ACUTE": "WALKIN",
    "FOLLOWUP": "FOLLOWUP",
    "WELLNESS": "CHECKUP",
    "PROCEDURE": "ROUTINE",
    "TELEHEALTH": "ROUTINE",
}
"""Each TOL type's 0276 equivalent, the second coding of Appointment.appointmentType."""

TOL_CANCELLATION_REASONS = _table(
    ("PATIENT", "Cancelled by the patient"),
    ("PORTAL", "Cancelled by the patient in TOL"),
    ("PROVIDER", "Cancelled by the provider"),
    ("FACILITY", "Clinic or equipment unavailable"),
    ("WEATHER", "Weather"),
    ("DECEASED", "Patient deceased"),
    ("ERROR", "Booked in error"),
    ("OTHER", "Other"),
)
"""TOL ``cancellation_reason``."""

CANCELLATION_TO_FHIR = {
    "PATIENT": Code("pat", "Patient"),
    "PORTAL": Code("pat-cpp", "Patient: Canceled via Patient Portal"),
    "PROVIDER": Code("prov", "Provider"),
    "FACILITY": Code("maint", "Equipment Maintenance/Repair"),
    "WEATHER": Code("oth-weath", "Other: Weather"),
    "DECEASED": Code("pat-dec", "Patient: Deceased"),
    "ERROR": Code("oth-err", "Other: Error"),
    "OTHER": Code("other", "Other"),
}
"""TOL reason -> appointment-cancellation-reason (R4)."""

# -- prescriptions ---------------------------------------------------------------------------

TOL_RX_STATUS = {
    "ACTIVE": "active",
    "HOLD": "on-hold",
    "SUSPENDED": "on-hold",
    "DISCONTINUED": "stopped",
    "CANCELLED": "cancelled",
    "EXPIRED": "completed",
    "COMPLETED": "completed",
    "PENDING": "draft",
    "ERROR": "entered-in-error",
}
"""TOL prescription ``status`` -> the status the pharmacy states (before derivation)."""

ORDER_CONTROL = {
    "NW": "active",
    "OK": "active",
    "SN": "active",
    "XO": "active",
    "XX": "active",
    "RP": "active",
    "RF": "active",
    "RE": "active",
    "SC": "active",
    "RL": "active",
    "HD": "on-hold",
    "OH": "on-hold",
    "CA": "cancelled",
    "CR": "cancelled",
    "OC": "cancelled",
    "DC": "stopped",
    "DR": "stopped",
    "OD": "stopped",
}
"""HL7 table 0119 order control (ORC-1) -> stated status."""

ORDER_STATUS = {
    "A": "active",
    "IP": "active",
    "SC": "active",
    "CM": "completed",
    "CA": "cancelled",
    "DC": "stopped",
    "HD": "on-hold",
    "ER": "entered-in-error",
    "RP": "stopped",
}
"""HL7 table 0038 order status (ORC-5) -> stated status; it wins over ORC-1 when valued."""

STATED_STATUSES = frozenset(
    ("active", "on-hold", "cancelled", "completed", "entered-in-error", "stopped", "draft")
)
"""MedicationRequest.status codes (R4, required binding)."""

RX_UNITS = {
    "TAB": "tablet",
    "CAP": "capsule",
    "ML": "mL",
    "G": "g",
    "EA": "each",
    "INH": "inhaler",
    "PKG": "package",
    "PATCH": "patch",
}
"""Dispense units (TOL ``quantity_unit``, RXE-11 code) -> display."""

UCUM_UNITS = {"ML": "mL", "G": "g"}
"""Dispense units that are UCUM units (the rest are counted units: tablets, capsules...)."""

NDC_TO_RXNORM: dict[str, Code] = {}
"""NDC (11 digits) -> RxNorm clinical drug. Deliberately empty: no public, licence-clean
crosswalk ships with the project and invented pairs would be wrong codes. RxNorm codings come
from the source (a TOL ``rxnorm`` column, an RXE-2/RXO-1 code in the RXNORM system); a site
with the RxNorm NDC files can fill this table (see README)."""

# -- secure messages -------------------------------------------------------------------------

ATTACHMENT_TYPES = frozenset(
    ("application/pdf", "image/jpeg", "image/png", "image/gif", "image/tiff", "text/plain")
)
"""Content types a TOL secure message attachment may have."""
MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
"""Largest attachment (decoded): 5 MiB."""
MAX_ATTACHMENTS = 5
"""Most attachments on one message."""
MAX_BODY_CHARACTERS = 20_000
"""Longest message body."""

# -- patients (HL7 v2) -----------------------------------------------------------------------

DOD_ID_AUTHORITIES = frozenset(("USDOD", "DOD", "EDIPI", "DEERS", "DMDC"))
"""PID-3 assigning authorities (CX-4.1) whose 10-digit id is a DoD ID (EDIPI)."""
DOD_ID_TYPES = frozenset(("EDIPI", "DODID"))
"""PID-3 identifier type codes (CX-5) that mark a DoD ID whatever the authority."""

ADMINISTRATIVE_SEX = {"M": "male", "F": "female", "O": "other", "U": "unknown", "A": "other"}
"""HL7 table 0001 (PID-8) -> Patient.gender."""

ADT_EVENTS = {
    "A04": "patient registered",
    "A08": "patient information updated",
    "A28": "person added",
    "A31": "person information updated",
}
"""ADT events that update Patient demographics."""
MERGE_EVENT = "A40"
"""ADT^A40: merge patient; MRG-1 names the record merged into PID-3's."""

TELECOM_USE = {"PRN": "home", "ORN": "home", "WPN": "work", "VHN": "home", "ASN": "temp"}
"""HL7 table 0201 telecommunication use (XTN-2) -> ContactPoint.use."""
TELECOM_SYSTEM = {"PH": "phone", "CP": "phone", "FX": "fax", "Internet": "email", "X.400": "email"}
"""HL7 table 0202 equipment type (XTN-3) -> ContactPoint.system."""
ADDRESS_USE = {"H": "home", "M": "home", "B": "work", "O": "work", "C": "temp", "BA": "old"}
"""HL7 table 0190 address type (XAD-7) -> Address.use."""

# -- HL7 v2 messages read --------------------------------------------------------------------

SUPPORTED_MESSAGES = {
    "SIU": frozenset(SIU_EVENTS),
    "RDE": frozenset(("O11", "O01")),
    "RDS": frozenset(("O13", "O01")),
    "ADT": frozenset((*ADT_EVENTS, MERGE_EVENT)),
}
"""Message type -> trigger events imported; anything else is rejected (AR)."""
