// Aliases for code systems and URLs outside this IG.

Alias: $v2-0203 = http://terminology.hl7.org/CodeSystem/v2-0203
Alias: $v3-RoleCode = http://terminology.hl7.org/CodeSystem/v3-RoleCode
Alias: $v3-Confidentiality = http://terminology.hl7.org/CodeSystem/v3-Confidentiality
Alias: $coverage-class = http://terminology.hl7.org/CodeSystem/coverage-class
Alias: $subscriber-relationship = http://terminology.hl7.org/CodeSystem/subscriber-relationship
Alias: $organization-type = http://terminology.hl7.org/CodeSystem/organization-type
Alias: $restful-security-service = http://terminology.hl7.org/CodeSystem/restful-security-service
Alias: $observation-category = http://terminology.hl7.org/CodeSystem/observation-category
Alias: $rxnorm = http://www.nlm.nih.gov/research/umls/rxnorm
Alias: $ucum = http://unitsofmeasure.org
Alias: $iso3166 = urn:iso:std:iso:3166
