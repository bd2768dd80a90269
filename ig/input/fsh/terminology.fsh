// CodeSystems and ValueSets of the MHS IG. The codes and displays are EXACTLY those of
// mappings/eligibility/codes.py (tests/ig/test_ig_build.py compares them): change both together.

CodeSystem: BeneficiaryCategoryCS
Id: beneficiary-category
Title: "Beneficiary category"
Description: "DEERS-style beneficiary categories: what a person is to the uniformed services (service member, retiree, family member, ...). The category decides which TRICARE plans are open to the person, their cost shares and their catastrophic cap. MHS's own codes, those of the eligibility extract: no public DEERS code list was found."
* insert CodeSystemMetadata
* #ADSM "Active duty service member"
* #ADFM "Active duty family member"
* #RET "Retiree"
* #RETFM "Retiree family member"
* #GRD "National Guard / Reserve member"
* #GRDFM "National Guard / Reserve family member"
* #SURV "Survivor"
* #FMSP "Former spouse"
* #VET "Veteran"
* #MOH "Medal of Honor recipient"

CodeSystem: BranchOfServiceCS
Id: branch-of-service
Title: "Branch of service"
Description: "The uniformed service an eligibility record names for a person. MHS's own codes, those of the eligibility extract."
* insert CodeSystemMetadata
* #A "Army"
* #N "Navy"
* #F "Air Force"
* #M "Marine Corps"
* #S "Space Force"
* #C "Coast Guard"
* #P "U.S. Public Health Service"
* #O "NOAA Commissioned Corps"

CodeSystem: DutyStatusCS
Id: duty-status
Title: "Duty status"
Description: "A service member's duty status (active duty, Guard / Reserve, retired, discharged). MHS's own codes, those of the eligibility extract."
* insert CodeSystemMetadata
* #AD "Active duty"
* #AG "Active Guard / Reserve"
* #SR "Selected Reserve"
* #RR "Retired Reserve"
* #RT "Retired"
* #DS "Discharged (veteran)"

CodeSystem: DeersRelationshipCS
Id: deers-relationship
Title: "DEERS relationship"
Description: "A beneficiary's relationship to their sponsor as DEERS records it (self, spouse, child, ...). MHS's own codes, those of the eligibility extract; Coverage.relationship carries the matching subscriber-relationship code and RelatedPerson.relationship the matching v3 RoleCode."
* insert CodeSystemMetadata
* #SF "Self (sponsor)"
* #SP "Spouse"
* #CH "Child"
* #SC "Stepchild"
* #WD "Ward"
* #PA "Parent"
* #OT "Other"

CodeSystem: TricarePlanCS
Id: tricare-plan
Title: "TRICARE plan"
Description: "The TRICARE health plan a beneficiary is enrolled in or eligible for. MHS's own codes, those of the eligibility extract (the numeric DEERS HCDP plan codes are not public)."
* insert CodeSystemMetadata
* #PRI "TRICARE Prime"
* #PRR "TRICARE Prime Remote"
* #SEL "TRICARE Select"
* #TFL "TRICARE For Life"
* #TRS "TRICARE Reserve Select"
* #TRR "TRICARE Retired Reserve"
* #TYA "TRICARE Young Adult"
* #USF "US Family Health Plan"

CodeSystem: PayGradeCS
Id: pay-grade
Title: "Pay grade"
Description: "A service member's pay grade: enlisted E-1 to E-9, warrant officer W-1 to W-5, officer O-1 to O-10. MHS's own codes, those of the eligibility extract."
* insert CodeSystemMetadata
* #E01 "Enlisted E-1"
* #E02 "Enlisted E-2"
* #E03 "Enlisted E-3"
* #E04 "Enlisted E-4"
* #E05 "Enlisted E-5"
* #E06 "Enlisted E-6"
* #E07 "Enlisted E-7"
* #E08 "Enlisted E-8"
* #E09 "Enlisted E-9"
* #W01 "Warrant officer W-1"
* #W02 "Warrant officer W-2"
* #W03 "Warrant officer W-3"
* #W04 "Warrant officer W-4"
* #W05 "Warrant officer W-5"
* #O01 "Officer O-1"
* #O02 "Officer O-2"
* #O03 "Officer O-3"
* #O04 "Officer O-4"
* #O05 "Officer O-5"
* #O06 "Officer O-6"
* #O07 "Officer O-7"
* #O08 "Officer O-8"
* #O09 "Officer O-9"
* #O10 "Officer O-10"

ValueSet: BeneficiaryCategoryVS
Id: beneficiary-category
Title: "Beneficiary category"
Description: "Every code of the Beneficiary category code system."
* insert ConformanceMetadata
* include codes from system BeneficiaryCategoryCS

ValueSet: BranchOfServiceVS
Id: branch-of-service
Title: "Branch of service"
Description: "Every code of the Branch of service code system."
* insert ConformanceMetadata
* include codes from system BranchOfServiceCS

ValueSet: DutyStatusVS
Id: duty-status
Title: "Duty status"
Description: "Every code of the Duty status code system."
* insert ConformanceMetadata
* include codes from system DutyStatusCS

ValueSet: DeersRelationshipVS
Id: deers-relationship
Title: "DEERS relationship"
Description: "Every code of the DEERS relationship code system."
* insert ConformanceMetadata
* include codes from system DeersRelationshipCS

ValueSet: TricarePlanVS
Id: tricare-plan
Title: "TRICARE plan"
Description: "Every code of the TRICARE plan code system."
* insert ConformanceMetadata
* include codes from system TricarePlanCS

ValueSet: PayGradeVS
Id: pay-grade
Title: "Pay grade"
Description: "Every code of the Pay grade code system."
* insert ConformanceMetadata
* include codes from system PayGradeCS
