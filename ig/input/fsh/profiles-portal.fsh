// Profiles of what the patient portal reads and writes: appointments, secure messages,
// prescriptions and renewal requests.

Profile: MHSAppointment
Parent: Appointment
Id: mhs-appointment
Title: "MHS Appointment"
Description: "An appointment at a military treatment facility (or with a network provider) for one or more beneficiaries."
* insert ConformanceMetadata
* obeys mhs-apt-1
* status MS
* serviceType MS
* description MS
* start MS
* end MS
* participant MS
* participant ^slicing.discriminator.type = #type
* participant ^slicing.discriminator.path = "actor.resolve()"
* participant ^slicing.rules = #open
* participant ^slicing.description = "By the type of the participating actor"
* participant contains patient 1..* MS
* participant[patient] ^short = "The beneficiary (or beneficiaries) the appointment is for"
* participant[patient].actor 1..1 MS
* participant[patient].actor only Reference(MHSPatient)
* participant[patient].status MS

Profile: MHSSecureMessage
Parent: Communication
Id: mhs-secure-message
Title: "MHS Secure Message"
Description: "A secure message between a beneficiary (or their proxy) and their care team. A reply names the message it answers in inResponseTo, which threads a conversation; topic is the thread's subject line."
* insert ConformanceMetadata
* status MS
* category MS
* subject 1..1 MS
* subject only Reference(MHSPatient)
* subject ^short = "The beneficiary the conversation is about"
* topic MS
* topic ^short = "Subject line of the thread"
* sent 1..1 MS
* received MS
* sender 1..1 MS
* recipient 1..* MS
* inResponseTo MS
* inResponseTo only Reference(MHSSecureMessage)
* inResponseTo ^short = "The message this one answers (threads)"
* payload 1..* MS
* payload.content[x] MS

Profile: MHSMedicationRequest
Parent: MedicationRequest
Id: mhs-medication-request
Title: "MHS Medication Request"
Description: "A prescription of a beneficiary: the medication coded with RxNorm or NDC, the subject, the dosage instructions as text and the refills allowed."
* insert ConformanceMetadata
* obeys mhs-rx-1
* status MS
* intent MS
* medication[x] MS
* medication[x] only CodeableConcept
* medicationCodeableConcept.coding 1..* MS
* insert SliceByValue(medicationCodeableConcept.coding, system, [[By code system: RxNorm, NDC]])
* medicationCodeableConcept.coding contains
    rxnorm 0..1 MS and
    ndc 0..* MS
* medicationCodeableConcept.coding[rxnorm] ^short = "RxNorm clinical drug"
* medicationCodeableConcept.coding[rxnorm].system 1..1
* medicationCodeableConcept.coding[rxnorm].system = "http://www.nlm.nih.gov/research/umls/rxnorm"
* medicationCodeableConcept.coding[rxnorm].code 1..1
* medicationCodeableConcept.coding[ndc] ^short = "National Drug Code"
* medicationCodeableConcept.coding[ndc].system 1..1
* medicationCodeableConcept.coding[ndc].system = "http://hl7.org/fhir/sid/ndc"
* medicationCodeableConcept.coding[ndc].code 1..1
* medicationCodeableConcept.text MS
* subject MS
* subject only Reference(MHSPatient)
* authoredOn MS
* requester MS
* dosageInstruction 1..* MS
* dosageInstruction.text 1..1 MS
* dispenseRequest MS
* dispenseRequest.numberOfRepeatsAllowed MS
* dispenseRequest.quantity MS

Profile: MHSRenewalRequest
Parent: MHSMedicationRequest
Id: mhs-renewal-request
Title: "MHS Prescription Renewal Request"
Description: "A beneficiary's (or proxy's) request to renew a prescription: a proposal naming the prescription it renews, for the care team to accept (as a new order) or decline."
* insert ConformanceMetadata
* intent = #proposal (exactly)
* priorPrescription 1..1 MS
* priorPrescription only Reference(MHSMedicationRequest)
* priorPrescription ^short = "The prescription to renew"
* requester 1..1 MS
* requester ^short = "Who asks for the renewal: the beneficiary, a proxy or a clinician"
