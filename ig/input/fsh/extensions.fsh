// Extensions of the MHS IG. Their URLs are those of ig/naming.py (the eligibility mapping writes
// them) and, for source-record-timestamp, of mappings/imports.py (the import loader).

Extension: BeneficiaryCategory
Id: beneficiary-category
Title: "Beneficiary category"
Description: "The person's DEERS beneficiary category (active duty service member, retiree family member, ...): it decides which TRICARE plans are open to them, their cost shares and their catastrophic cap. Set by the eligibility import."
Context: Patient
* insert ConformanceMetadata
* value[x] 1..1
* value[x] only Coding
* valueCoding from BeneficiaryCategoryVS (required)
* valueCoding.system 1..1
* valueCoding.code 1..1

Extension: BranchOfService
Id: branch-of-service
Title: "Branch of service"
Description: "The uniformed service (Army, Navy, ...) the person's eligibility record names. Set by the eligibility import."
Context: Patient
* insert ConformanceMetadata
* value[x] 1..1
* value[x] only Coding
* valueCoding from BranchOfServiceVS (required)
* valueCoding.system 1..1
* valueCoding.code 1..1

Extension: DutyStatus
Id: duty-status
Title: "Duty status"
Description: "A service member's duty status (active duty, Selected Reserve, retired, ...). Set by the eligibility import."
Context: Patient
* insert ConformanceMetadata
* value[x] 1..1
* value[x] only Coding
* valueCoding from DutyStatusVS (required)
* valueCoding.system 1..1
* valueCoding.code 1..1

Extension: PayGrade
Id: pay-grade
Title: "Pay grade"
Description: "A service member's pay grade (E-1 to E-9, W-1 to W-5, O-1 to O-10). Set by the eligibility import."
Context: Patient
* insert ConformanceMetadata
* value[x] 1..1
* value[x] only Coding
* valueCoding from PayGradeVS (required)
* valueCoding.system 1..1
* valueCoding.code 1..1

Extension: SourceRecordTimestamp
Id: source-record-timestamp
Title: "Source record timestamp"
Description: "When the source system (a DEERS-style eligibility extract, an X12 271 response) recorded the data last applied to this resource. The import loader keeps it on the person's Coverage and compares it with each incoming record, so that an older record never overwrites a newer one and records may arrive in any order."
Context: Coverage
* insert ConformanceMetadata
* value[x] 1..1
* value[x] only instant
