package profile

import "time"

// DefaultMaxSignedAge is the MSO age limit of the shipped profiles: issuers re-sign
// MSOs well within this (18013-5 expects short-lived MSOs and a DS validity of at most
// 457 days).
const DefaultMaxSignedAge = 90 * 24 * time.Hour

func elements(ns string, mandatory []string, optional ...string) []Element {
	var out []Element
	for _, id := range mandatory {
		out = append(out, Element{NameSpace: ns, Identifier: id, Mandatory: true})
	}
	for _, id := range optional {
		out = append(out, Element{NameSpace: ns, Identifier: id})
	}
	return out
}

// MDL returns the mDL profile (org.iso.18013.5.1.mDL): it requests the identity
// elements a gate shows the operator, requires them, validates element types against
// 18013-5 Table 5, limits the MSO age to DefaultMaxSignedAge and accepts a document
// that has not expired (rule "expiry_date >= today"). Nothing is requested with intent
// to retain. Each call returns a new profile that may be modified before first use.
func MDL() *Profile {
	return &Profile{
		Name: "mdl",
		Docs: []Doc{{
			DocType: DocTypeMDL,
			Schema:  "mdl",
			Elements: elements(NamespaceMDL,
				[]string{"family_name", "given_name", "birth_date", "portrait", "expiry_date",
					"issuing_country", "issuing_authority", "document_number"},
				"issue_date", "age_over_18", "portrait_capture_date"),
		}},
		Freshness: Freshness{MaxSignedAge: DefaultMaxSignedAge},
		Status:    StatusIfPresent,
		Rule:      "expiry_date >= today",
	}
}

// PhotoID returns the Photo ID profile (ISO/IEC TS 23220-4 Annex C,
// org.iso.23220.photoid.1): the mandatory elements of Table C.1 in org.iso.23220.1,
// document_number and portrait_capture_date optionally, and the older spellings
// (org.iso.23220.photoID.1, *_unicode) requested and accepted too. Element types are
// validated against Tables C.1–C.3; the rule is "expiry_date >= today".
func PhotoID() *Profile {
	return &Profile{
		Name: "photoid",
		Docs: []Doc{{
			DocType:             DocTypePhotoID,
			Schema:              "photoid",
			RequestOldSpellings: true,
			Elements: elements(Namespace23220,
				[]string{"family_name", "given_name", "birth_date", "portrait", "issue_date",
					"expiry_date", "issuing_authority", "issuing_country", "age_over_18"},
				"document_number", "portrait_capture_date"),
		}},
		Freshness: Freshness{MaxSignedAge: DefaultMaxSignedAge},
		Status:    StatusIfPresent,
		Rule:      "expiry_date >= today",
	}
}

// AgeOver18 returns an age-check profile accepting an mDL or a Photo ID that discloses
// age_over_18 = true and the portrait, with holder verification (portrait matching)
// asked for. It requests nothing else.
func AgeOver18() *Profile {
	return &Profile{
		Name: "age_over_18",
		Docs: []Doc{
			{DocType: DocTypeMDL, Schema: "mdl",
				Elements: elements(NamespaceMDL, []string{"age_over_18", "portrait"}, "portrait_capture_date")},
			{DocType: DocTypePhotoID, Schema: "photoid", RequestOldSpellings: true,
				Elements: elements(Namespace23220, []string{"age_over_18", "portrait"}, "portrait_capture_date")},
		},
		Freshness:          Freshness{MaxSignedAge: DefaultMaxSignedAge},
		Status:             StatusIfPresent,
		HolderVerification: true,
		Rule:               "age_over_18 == true",
	}
}

// Builtin returns a shipped profile by name ("mdl", "photoid", "age_over_18"), or nil.
func Builtin(name string) *Profile {
	switch name {
	case "mdl":
		return MDL()
	case "photoid":
		return PhotoID()
	case "age_over_18":
		return AgeOver18()
	}
	return nil
}
