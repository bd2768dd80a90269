// Profiles of the beneficiary and their eligibility: Patient, RelatedPerson (sponsor or
// guardian) and Coverage (TRICARE). The eligibility import (mappings/eligibility/mapping.py)
// writes resources that conform to them.

Profile: MHSPatient
Parent: Patient
Id: mhs-patient
Title: "MHS Patient"
Description: "A military health beneficiary: service member, retiree, family member or veteran. Identified by a DoD ID (EDIPI), one per person across roles; carries the DEERS beneficiary category, branch of service, duty status and pay grade the eligibility import sets."
* insert ConformanceMetadata
* obeys mhs-pat-1 and mhs-pat-2 and mhs-pat-3
* extension contains
    BeneficiaryCategory named beneficiaryCategory 0..1 MS and
    BranchOfService named branchOfService 0..1 MS and
    DutyStatus named dutyStatus 0..1 MS and
    PayGrade named payGrade 0..1 MS
* extension[beneficiaryCategory] ^short = "DEERS beneficiary category (set by the eligibility import)"
* extension[branchOfService] ^short = "Branch of service"
* extension[dutyStatus] ^short = "Duty status"
* extension[payGrade] ^short = "Pay grade"
* identifier 1..* MS
* insert SliceByValue(identifier, system, [[By identifier system: DoD ID, DoD Benefits Number, SSN]])
* identifier contains
    dodId 1..1 MS and
    dbn 0..1 MS and
    ssn 0..1
* identifier[dodId] ^short = "DoD ID (EDIPI): 10 digits, one per person across roles"
* identifier[dodId].system 1..1
* identifier[dodId].system = "http://fhir.mhs-fhir.example/sid/dod-id"
* identifier[dodId].value 1..1 MS
* identifier[dbn] ^short = "DoD Benefits Number: 11 digits, the first 9 shared by the sponsor's family"
* identifier[dbn].system 1..1
* identifier[dbn].system = "http://fhir.mhs-fhir.example/sid/dod-benefits-number"
* identifier[dbn].value 1..1 MS
* identifier[ssn] ^short = "US Social Security Number: only with an inline security label (restricted)"
* identifier[ssn].system 1..1
* identifier[ssn].system = "http://hl7.org/fhir/sid/us-ssn"
* identifier[ssn].value 1..1
* active MS
* name 1..* MS
* telecom MS
* gender MS
* birthDate 1..1 MS
* birthDate ^short = "Date of birth (the proxy age rules read it)"
* address MS
* generalPractitioner MS
* generalPractitioner ^short = "Primary care manager (PCM)"
* managingOrganization MS
* managingOrganization ^short = "Enrollment site (military treatment facility, by DMIS id)"

Profile: MHSRelatedPerson
Parent: RelatedPerson
Id: mhs-related-person
Title: "MHS Sponsor or Guardian"
Description: "The sponsor (or guardian) of a beneficiary, as related to that beneficiary's Patient and named by their own DoD ID. The eligibility import writes one per dependent; the proxy rules read them to decide whom a signed-in beneficiary may act for."
* insert ConformanceMetadata
* obeys mhs-rp-1
* active MS
* active ^short = "false once the link ends (divorce, end of eligibility): the proxy rules then ignore it"
* identifier 1..* MS
* insert SliceByValue(identifier, system, [[By identifier system: the sponsor's DoD ID, the link's own identifier]])
* identifier contains
    dodId 1..1 MS and
    sponsorLink 0..1 MS
* identifier[dodId] ^short = "The sponsor's (or guardian's) DoD ID"
* identifier[dodId].system 1..1
* identifier[dodId].system = "http://fhir.mhs-fhir.example/sid/dod-id"
* identifier[dodId].value 1..1 MS
* identifier[sponsorLink] ^short = "<sponsor DoD ID>-<patient DoD ID>: finds the link again on re-import"
* identifier[sponsorLink].system 1..1
* identifier[sponsorLink].system = "http://fhir.mhs-fhir.example/sid/sponsor-link"
* identifier[sponsorLink].value 1..1
* patient MS
* patient only Reference(MHSPatient)
* patient ^short = "The dependent"
* relationship 1..* MS
* insert SliceByValue(relationship.coding, system, [[By code system: DEERS relationship, v3 RoleCode]])
* relationship.coding contains
    deers 0..1 MS and
    role 0..1 MS
* relationship.coding[deers] ^short = "The patient's DEERS relationship to the sponsor"
* relationship.coding[deers] from DeersRelationshipVS (required)
* relationship.coding[deers].system 1..1
* relationship.coding[deers].system = "http://fhir.mhs-fhir.example/CodeSystem/deers-relationship"
* relationship.coding[deers].code 1..1
* relationship.coding[role] ^short = "What the sponsor is to the patient (v3 RoleCode)"
* relationship.coding[role].system 1..1
* relationship.coding[role].system = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
* relationship.coding[role].code 1..1
* name MS

Profile: MHSCoverage
Parent: Coverage
Id: mhs-coverage
Title: "MHS TRICARE Coverage"
Description: "A beneficiary's TRICARE eligibility, one per person: the plan as class, the sponsor as subscriber (named by DoD ID), the eligibility period, the Defense Health Agency as payor. A termination ends the period; it never deletes the Coverage."
* insert ConformanceMetadata
* obeys mhs-cov-1
* extension contains SourceRecordTimestamp named sourceRecordTimestamp 0..1 MS
* extension[sourceRecordTimestamp] ^short = "When the source recorded the data last applied (import bookkeeping)"
* identifier MS
* insert SliceByValue(identifier, system, [[By identifier system]])
* identifier contains tricare 0..1 MS
* identifier[tricare] ^short = "One TRICARE eligibility Coverage per person: the person's DoD ID"
* identifier[tricare].system 1..1
* identifier[tricare].system = "http://fhir.mhs-fhir.example/sid/tricare-coverage"
* identifier[tricare].value 1..1
* status MS
* type MS
* type from TricarePlanVS (extensible)
* type ^short = "The TRICARE plan (or just the text TRICARE when no plan is known)"
* policyHolder MS
* subscriber 1..1 MS
* subscriber only Reference(MHSPatient)
* subscriber ^short = "The sponsor, named by DoD ID (a logical reference)"
* subscriber.identifier 1..1 MS
* subscriber.identifier.system 1..1
* subscriber.identifier.system = "http://fhir.mhs-fhir.example/sid/dod-id"
* subscriber.identifier.value 1..1
* subscriberId MS
* subscriberId ^short = "The sponsor's DoD ID"
* beneficiary MS
* beneficiary only Reference(MHSPatient)
* dependent MS
* dependent ^short = "The last 2 digits of the beneficiary's DoD Benefits Number"
* relationship MS
* period 1..1 MS
* period.start 1..1 MS
* period.end MS
* payor MS
* payor only Reference(Organization)
* payor ^short = "The Defense Health Agency (TRICARE)"
* class MS
* class ^slicing.discriminator.type = #pattern
* class ^slicing.discriminator.path = "type"
* class ^slicing.rules = #open
* class ^slicing.description = "By class type"
* class contains plan 0..1 MS
* class[plan] ^short = "The TRICARE plan"
* class[plan].type = $coverage-class#plan
* class[plan].value MS
* class[plan].value from TricarePlanVS (required)
* class[plan].name MS
