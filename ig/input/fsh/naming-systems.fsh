// NamingSystems of the identifier systems the server writes. The URIs are those of ig/naming.py
// (dod-id, dod-benefits-number, dmis-id) and mappings/eligibility/mapping.py (tricare-coverage,
// sponsor-link).

RuleSet: NamingSystemMetadata(uri)
* status = #draft
* insert InstancePublisher
* kind = #identifier
* uniqueId.type = #uri
* uniqueId.value = "{uri}"
* uniqueId.preferred = true

Instance: dod-id
InstanceOf: NamingSystem
Usage: #definition
Title: "DoD ID (EDIPI)"
* insert NamingSystemMetadata(http://fhir.mhs-fhir.example/sid/dod-id)
* name = "DoDID"
* responsible = "Defense Manpower Data Center (DMDC), in DEERS"
* type = $v2-0203#MI "Military ID number"
* description = "The DoD ID number, also called EDIPI (Electronic Data Interchange Personal Identifier): 10 digits, assigned by DEERS to each person record and carried on the CAC and uniformed-services ID cards. It identifies a person, not a role: one person keeps one DoD ID as service member, retiree or family member."
* usage = "Patient.identifier (required, MHSPatient), RelatedPerson.identifier (the sponsor or guardian), Coverage.subscriber.identifier (the sponsor). A CAC or PIV certificate's subject carries it at login."

Instance: dod-benefits-number
InstanceOf: NamingSystem
Usage: #definition
Title: "DoD Benefits Number (DBN)"
* insert NamingSystemMetadata(http://fhir.mhs-fhir.example/sid/dod-benefits-number)
* name = "DoDBenefitsNumber"
* responsible = "Defense Manpower Data Center (DMDC), in DEERS"
* description = "The DoD Benefits Number: 11 digits, used for benefit eligibility and printed on the back of the ID card. The first 9 digits are shared by the sponsor's family; the last 2 identify the person."
* usage = "Patient.identifier (MHSPatient); its last 2 digits are Coverage.dependent."

Instance: dmis-id
InstanceOf: NamingSystem
Usage: #definition
Title: "DMIS ID"
* insert NamingSystemMetadata(http://fhir.mhs-fhir.example/sid/dmis-id)
* name = "DMISID"
* responsible = "Defense Health Agency"
* type = $v2-0203#FI "Facility ID"
* description = "The Defense Medical Information System (DMIS) id of a military treatment facility: 4 characters."
* usage = "Organization.identifier of an enrollment site; Patient.managingOrganization.identifier."

Instance: tricare-coverage
InstanceOf: NamingSystem
Usage: #definition
Title: "TRICARE eligibility Coverage"
* insert NamingSystemMetadata(http://fhir.mhs-fhir.example/sid/tricare-coverage)
* name = "TRICARECoverage"
* responsible = "mhs-fhir"
* description = "Identifies the one TRICARE eligibility Coverage of a person; the value is that person's DoD ID."
* usage = "Coverage.identifier (MHSCoverage), written by the eligibility import to find the Coverage again."

Instance: sponsor-link
InstanceOf: NamingSystem
Usage: #definition
Title: "Sponsor link"
* insert NamingSystemMetadata(http://fhir.mhs-fhir.example/sid/sponsor-link)
* name = "SponsorLink"
* responsible = "mhs-fhir"
* description = "Identifies the RelatedPerson that links a sponsor to one dependent; the value is <sponsor DoD ID>-<dependent DoD ID>."
* usage = "RelatedPerson.identifier (MHSRelatedPerson), written by the eligibility import to find the link again."
