// Search parameters the portal and the import need beyond core R4. Each expression stays inside
// the FHIRPath subset the server compiles (fhir_server/search/fhirpath.py): paths, extension('url'),
// where(field = 'literal'), ofType/as.

RuleSet: SearchParameterMetadata(code, base, type, expression)
* insert InstanceMetadata
* code = #{code}
* base = #{base}
* type = #{type}
* expression = "{expression}"

Instance: Patient-beneficiary-category
InstanceOf: SearchParameter
Usage: #definition
Title: "Patient: beneficiary category"
* insert SearchParameterMetadata(beneficiary-category, Patient, token, [[Patient.extension('http://fhir.mhs-fhir.example/StructureDefinition/beneficiary-category').value]])
* name = "BeneficiaryCategory"
* description = "The DEERS beneficiary category of the patient (beneficiary-category extension), e.g. `beneficiary-category=ADFM`."

Instance: Patient-branch
InstanceOf: SearchParameter
Usage: #definition
Title: "Patient: branch of service"
* insert SearchParameterMetadata(branch, Patient, token, [[Patient.extension('http://fhir.mhs-fhir.example/StructureDefinition/branch-of-service').value]])
* name = "Branch"
* description = "The branch of service of the patient (branch-of-service extension), e.g. `branch=N`."

Instance: Patient-duty-status
InstanceOf: SearchParameter
Usage: #definition
Title: "Patient: duty status"
* insert SearchParameterMetadata(duty-status, Patient, token, [[Patient.extension('http://fhir.mhs-fhir.example/StructureDefinition/duty-status').value]])
* name = "DutyStatus"
* description = "The duty status of the patient (duty-status extension), e.g. `duty-status=AD`."

Instance: Patient-pay-grade
InstanceOf: SearchParameter
Usage: #definition
Title: "Patient: pay grade"
* insert SearchParameterMetadata(pay-grade, Patient, token, [[Patient.extension('http://fhir.mhs-fhir.example/StructureDefinition/pay-grade').value]])
* name = "PayGrade"
* description = "The pay grade of the patient (pay-grade extension), e.g. `pay-grade=O03`."

Instance: Patient-dod-id
InstanceOf: SearchParameter
Usage: #definition
Title: "Patient: DoD ID"
* insert SearchParameterMetadata(dod-id, Patient, token, [[Patient.identifier.where(system = 'http://fhir.mhs-fhir.example/sid/dod-id')]])
* name = "DoDID"
* description = "The patient's DoD ID (EDIPI) without its system: `dod-id=1234567890` is `identifier=http://fhir.mhs-fhir.example/sid/dod-id|1234567890`."

Instance: Coverage-sponsor
InstanceOf: SearchParameter
Usage: #definition
Title: "Coverage: sponsor"
* insert SearchParameterMetadata(sponsor, Coverage, token, [[Coverage.subscriber.identifier.where(system = 'http://fhir.mhs-fhir.example/sid/dod-id')]])
* name = "Sponsor"
* description = "The sponsor (subscriber) of the coverage, by the identifier MHSCoverage requires (the sponsor's DoD ID): `sponsor=1234567890` finds the TRICARE coverage of the whole family. The same as core's `subscriber:identifier=http://fhir.mhs-fhir.example/sid/dod-id|1234567890`, under the name the portal uses and without the system."

Instance: RelatedPerson-sponsor
InstanceOf: SearchParameter
Usage: #definition
Title: "RelatedPerson: sponsor"
* insert SearchParameterMetadata(sponsor, RelatedPerson, token, [[RelatedPerson.identifier.where(system = 'http://fhir.mhs-fhir.example/sid/dod-id')]])
* name = "Sponsor"
* description = "The DoD ID of the sponsor (or guardian) this RelatedPerson is: `RelatedPerson?sponsor=1234567890&_include=RelatedPerson:patient` lists a sponsor's dependents; `Patient?_has:RelatedPerson:patient:sponsor=1234567890` finds their Patients."

Instance: Communication-in-response-to
InstanceOf: SearchParameter
Usage: #definition
Title: "Communication: in response to"
* insert SearchParameterMetadata(in-response-to, Communication, reference, [[Communication.inResponseTo]])
* name = "InResponseTo"
* description = "The message a secure message answers: `in-response-to=Communication/123` lists the replies, which makes a thread."
* target = #Communication

Instance: Communication-topic
InstanceOf: SearchParameter
Usage: #definition
Title: "Communication: topic"
* insert SearchParameterMetadata(topic, Communication, token, [[Communication.topic]])
* name = "Topic"
* description = "The topic (subject line) of a secure message; `topic:text=lab` matches its text."

Instance: MedicationRequest-prior-prescription
InstanceOf: SearchParameter
Usage: #definition
Title: "MedicationRequest: prior prescription"
* insert SearchParameterMetadata(prior-prescription, MedicationRequest, reference, [[MedicationRequest.priorPrescription]])
* name = "PriorPrescription"
* description = "The prescription a MedicationRequest renews or replaces: `prior-prescription=MedicationRequest/123&intent=proposal` lists the renewal requests of a prescription."
* target = #MedicationRequest
