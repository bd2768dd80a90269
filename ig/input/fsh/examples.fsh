// Examples: the demo family of fhir_server/demo/demo-bundle.json (the Garcias of Bethesda) as the
// MHS profiles describe them: at least one per profile. tests/ig/test_ig_build.py runs every
// example through the server's own validation.

Instance: example-mtf
InstanceOf: Organization
Usage: #example
Title: "Example enrollment site (MTF)"
Description: "A military treatment facility, the enrollment site of the example family."
* identifier.system = "http://fhir.mhs-fhir.example/sid/dmis-id"
* identifier.value = "0001"
* active = true
* type = $organization-type#prov "Healthcare Provider"
* name = "Demo Military Treatment Facility"

Instance: example-pcm
InstanceOf: Practitioner
Usage: #example
Title: "Example primary care manager"
Description: "The example family's primary care manager."
* active = true
* name.family = "Reyes"
* name.given = "Dana"
* name.prefix = "Dr."

Instance: example-sponsor
InstanceOf: MHSPatient
Usage: #example
Title: "Example sponsor: an active duty service member"
Description: "Luis Garcia, a Navy officer on active duty: the sponsor of the example family. His SSN (in the 900-999 area, never issued) carries the inline security label the eligibility import adds."
* extension[beneficiaryCategory].valueCoding = BeneficiaryCategoryCS#ADSM "Active duty service member"
* extension[branchOfService].valueCoding = BranchOfServiceCS#N "Navy"
* extension[dutyStatus].valueCoding = DutyStatusCS#AD "Active duty"
* extension[payGrade].valueCoding = PayGradeCS#O03 "Officer O-3"
* identifier[dodId].use = #official
* identifier[dodId].type.text = "DoD ID"
* identifier[dodId].value = "1234567890"
* identifier[dbn].use = #secondary
* identifier[dbn].type.text = "DoD Benefits Number"
* identifier[dbn].value = "12345678900"
* identifier[ssn].extension[0].url = "http://hl7.org/fhir/uv/security-label-ds4p/StructureDefinition/extension-inline-sec-label"
* identifier[ssn].extension[0].valueCoding = $v3-Confidentiality#R "restricted"
* identifier[ssn].use = #secondary
* identifier[ssn].type = $v2-0203#SS
* identifier[ssn].value = "900011234"
* active = true
* name.use = #official
* name.family = "Garcia"
* name.given = "Luis"
* telecom.system = #phone
* telecom.value = "301-555-0100"
* telecom.use = #home
* gender = #male
* birthDate = "1988-04-12"
* address.use = #home
* address.line = "100 Demo Way"
* address.city = "Bethesda"
* address.state = "MD"
* address.postalCode = "20889"
* address.country = "US"
* generalPractitioner = Reference(example-pcm) "Dr. Dana Reyes"
* managingOrganization = Reference(example-mtf) "Demo Military Treatment Facility"

Instance: example-spouse
InstanceOf: MHSPatient
Usage: #example
Title: "Example dependent: an active duty family member"
Description: "Maria Garcia, the sponsor's spouse."
* extension[beneficiaryCategory].valueCoding = BeneficiaryCategoryCS#ADFM "Active duty family member"
* identifier[dodId].use = #official
* identifier[dodId].type.text = "DoD ID"
* identifier[dodId].value = "1234567891"
* identifier[dbn].use = #secondary
* identifier[dbn].type.text = "DoD Benefits Number"
* identifier[dbn].value = "12345678901"
* active = true
* name.use = #official
* name.family = "Garcia"
* name.given = "Maria"
* gender = #female
* birthDate = "1990-09-30"
* address.use = #home
* address.line = "100 Demo Way"
* address.city = "Bethesda"
* address.state = "MD"
* address.postalCode = "20889"
* address.country = "US"
* managingOrganization = Reference(example-mtf) "Demo Military Treatment Facility"

Instance: example-sponsor-of-spouse
InstanceOf: MHSRelatedPerson
Usage: #example
Title: "Example sponsor link"
Description: "The sponsor as related to his spouse, as the eligibility import writes it."
* identifier[dodId].value = "1234567890"
* identifier[sponsorLink].value = "1234567890-1234567891"
* active = true
* patient = Reference(example-spouse)
* relationship.coding[role] = $v3-RoleCode#SPS "spouse"
* relationship.coding[deers] = DeersRelationshipCS#SP "Spouse"
* relationship.text = "sponsor (the patient is the sponsor's spouse)"
* name.family = "Garcia"
* name.given = "Luis"

Instance: example-coverage-sponsor
InstanceOf: MHSCoverage
Usage: #example
Title: "Example TRICARE coverage of the sponsor"
Description: "The sponsor's own TRICARE Prime eligibility."
* extension[sourceRecordTimestamp].valueInstant = "2026-11-01T06:00:00Z"
* identifier[tricare].value = "1234567890"
* status = #active
* type = TricarePlanCS#PRI "TRICARE Prime"
* type.text = "TRICARE"
* policyHolder.identifier.system = "http://fhir.mhs-fhir.example/sid/dod-id"
* policyHolder.identifier.value = "1234567890"
* subscriber.identifier.value = "1234567890"
* subscriberId = "1234567890"
* beneficiary = Reference(example-sponsor)
* dependent = "00"
* relationship = $subscriber-relationship#self
* period.start = "2024-10-01"
* payor.display = "Defense Health Agency (TRICARE)"
* class[plan].value = "PRI"
* class[plan].name = "TRICARE Prime"

Instance: example-coverage-spouse
InstanceOf: MHSCoverage
Usage: #example
Title: "Example TRICARE coverage of a dependent"
Description: "The spouse's TRICARE Prime eligibility, with the sponsor as subscriber."
* extension[sourceRecordTimestamp].valueInstant = "2026-11-01T06:00:00Z"
* identifier[tricare].value = "1234567891"
* status = #active
* type = TricarePlanCS#PRI "TRICARE Prime"
* type.text = "TRICARE"
* policyHolder.identifier.system = "http://fhir.mhs-fhir.example/sid/dod-id"
* policyHolder.identifier.value = "1234567890"
* subscriber.identifier.value = "1234567890"
* subscriberId = "1234567890"
* beneficiary = Reference(example-spouse)
* dependent = "01"
* relationship = $subscriber-relationship#spouse
* period.start = "2024-10-01"
* payor.display = "Defense Health Agency (TRICARE)"
* class[plan].value = "PRI"
* class[plan].name = "TRICARE Prime"

Instance: example-appointment
InstanceOf: MHSAppointment
Usage: #example
Title: "Example appointment"
Description: "The sponsor's annual physical with his primary care manager."
* status = #booked
* serviceType.text = "Primary care"
* description = "Annual physical"
* start = "2026-12-03T14:00:00Z"
* end = "2026-12-03T14:30:00Z"
* participant[patient].actor = Reference(example-sponsor)
* participant[patient].status = #accepted
* participant[1].actor = Reference(example-pcm)
* participant[1].status = #accepted

Instance: example-message
InstanceOf: MHSSecureMessage
Usage: #example
Title: "Example secure message"
Description: "The sponsor asks his primary care manager about a lab result."
* status = #completed
* subject = Reference(example-sponsor)
* topic.text = "Lab results question"
* sent = "2026-11-20T15:04:00Z"
* sender = Reference(example-sponsor)
* recipient = Reference(example-pcm)
* payload.contentString = "Could you explain my cholesterol result?"

Instance: example-reply
InstanceOf: MHSSecureMessage
Usage: #example
Title: "Example reply"
Description: "The primary care manager answers: the reply names the message it answers, which makes the thread."
* status = #completed
* subject = Reference(example-sponsor)
* topic.text = "Lab results question"
* inResponseTo = Reference(example-message)
* sent = "2026-11-21T09:12:00Z"
* sender = Reference(example-pcm)
* recipient = Reference(example-sponsor)
* payload.contentString = "Your LDL is slightly high; let's talk about it at your physical."

Instance: example-prescription
InstanceOf: MHSMedicationRequest
Usage: #example
Title: "Example prescription"
Description: "The sponsor's atorvastatin prescription, with refills."
* status = #active
* intent = #order
* medicationCodeableConcept.coding[rxnorm] = $rxnorm#617312 "atorvastatin 10 MG Oral Tablet"
* medicationCodeableConcept.text = "Atorvastatin 10 mg tablet"
* subject = Reference(example-sponsor)
* authoredOn = "2026-06-01"
* requester = Reference(example-pcm)
* dosageInstruction.text = "Take 1 tablet by mouth daily"
* dispenseRequest.numberOfRepeatsAllowed = 3
* dispenseRequest.quantity.value = 90
* dispenseRequest.quantity.unit = "tablet"
* dispenseRequest.expectedSupplyDuration = 90 $ucum#d "days"

Instance: example-renewal-request
InstanceOf: MHSRenewalRequest
Usage: #example
Title: "Example renewal request"
Description: "The sponsor asks, through the portal, to renew his atorvastatin prescription."
* status = #active
* intent = #proposal
* medicationCodeableConcept.coding[rxnorm] = $rxnorm#617312 "atorvastatin 10 MG Oral Tablet"
* medicationCodeableConcept.text = "Atorvastatin 10 mg tablet"
* subject = Reference(example-sponsor)
* authoredOn = "2026-11-25"
* requester = Reference(example-sponsor)
* priorPrescription = Reference(example-prescription)
* dosageInstruction.text = "Take 1 tablet by mouth daily"
* note.text = "Running low: please renew for another 90 days."
