// Metadata every conformance resource of the IG carries, and helpers for repeated rules.

// The date of the IG's current version (0.1.0): change it with the version in sushi-config.yaml.
RuleSet: ConformanceMetadata
* ^status = #draft
* ^date = "2026-11-29"
* ^experimental = false
* ^publisher = "mhs-fhir"
* ^contact.name = "mhs-fhir"
* ^contact.telecom.system = #url
* ^contact.telecom.value = "http://fhir.mhs-fhir.example"
* ^jurisdiction = $iso3166#US "United States of America"

RuleSet: CodeSystemMetadata
* insert ConformanceMetadata
* ^caseSensitive = true
* ^content = #complete

// The same metadata written on an Instance (SearchParameter, CapabilityStatement).
RuleSet: InstanceMetadata
* status = #draft
* experimental = false
* insert InstancePublisher

// NamingSystem (R4) has no experimental element.
RuleSet: InstancePublisher
* date = "2026-11-29"
* publisher = "mhs-fhir"
* contact.name = "mhs-fhir"
* contact.telecom.system = #url
* contact.telecom.value = "http://fhir.mhs-fhir.example"
* jurisdiction = $iso3166#US "United States of America"

// Slicing of a repeating element by the value of one of its children (identifier by system).
RuleSet: SliceByValue(path, discriminator, description)
* {path} ^slicing.discriminator.type = #value
* {path} ^slicing.discriminator.path = "{discriminator}"
* {path} ^slicing.rules = #open
* {path} ^slicing.description = "{description}"
