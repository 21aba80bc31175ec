package profile

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"

	"github.com/mdocgate/mdocgate/messages"
)

// Document types and name spaces known to the built-in schemas (spec digest file 07).
const (
	DocTypeMDL          = "org.iso.18013.5.1.mDL"
	NamespaceMDL        = "org.iso.18013.5.1"
	DocTypePhotoID      = "org.iso.23220.photoid.1"
	DocTypePhotoIDOld   = "org.iso.23220.photoID.1" // Multipaz / older drafts
	Namespace23220      = "org.iso.23220.1"
	NamespacePhotoID    = "org.iso.23220.photoid.1"
	NamespacePhotoIDOld = "org.iso.23220.photoID.1"
	NamespaceDataGroups = "org.iso.23220.datagroups.1"
	NamespaceDTC        = "org.iso.23220.dtc.1" // N 4583 (2024) spelling of the data groups
)

// Type is the expected CBOR type of a data element.
type Type string

// Element types of the built-in schemas.
const (
	TypeText              Type = "tstr"
	TypeUint              Type = "uint"
	TypeBool              Type = "bool"
	TypeBytes             Type = "bstr"
	TypeFullDate          Type = "full-date"
	TypeTDate             Type = "tdate"
	TypeTDateOrFullDate   Type = "tdate/full-date"
	TypeDrivingPrivileges Type = "driving_privileges"
	TypeTextArray         Type = "[+ tstr]"
	TypeAny               Type = "any"
)

// Schema describes a document type: its element types and the older identifier
// spellings that are accepted and mapped to the current ones.
type Schema struct {
	Name string
	// Types maps name space → element identifier → type. Elements not listed are not
	// type-checked (issuers may add elements), except age_over_NN (always bool) in
	// name spaces that have AgeOver set.
	Types map[string]map[string]Type
	// AgeOver lists the name spaces in which age_over_NN elements are bool.
	AgeOver map[string]bool
	// DocTypeAliases maps accepted older docType spellings to the current one.
	DocTypeAliases map[string]string
	// NameSpaceAliases maps older name space spellings to the current ones.
	NameSpaceAliases map[string]string
	// ElementAliases maps, per current name space, older element identifiers to the
	// current ones.
	ElementAliases map[string]map[string]string
}

var mdlTypes = map[string]Type{
	"family_name": TypeText, "given_name": TypeText, "birth_date": TypeFullDate,
	"issue_date": TypeTDateOrFullDate, "expiry_date": TypeTDateOrFullDate,
	"issuing_country": TypeText, "issuing_authority": TypeText, "document_number": TypeText,
	"portrait": TypeBytes, "driving_privileges": TypeDrivingPrivileges,
	"un_distinguishing_sign": TypeText, "administrative_number": TypeText,
	"sex": TypeUint, "height": TypeUint, "weight": TypeUint,
	"eye_colour": TypeText, "hair_colour": TypeText, "birth_place": TypeText,
	"resident_address": TypeText, "portrait_capture_date": TypeTDate,
	"age_in_years": TypeUint, "age_birth_year": TypeUint,
	"issuing_jurisdiction": TypeText, "nationality": TypeText,
	"resident_city": TypeText, "resident_state": TypeText, "resident_postal_code": TypeText,
	"resident_country":        TypeText,
	"biometric_template_face": TypeBytes, "biometric_template_finger": TypeBytes,
	"biometric_template_signature_sign": TypeBytes, "biometric_template_iris": TypeBytes,
	"family_name_national_character": TypeText, "given_name_national_character": TypeText,
	"signature_usual_mark": TypeBytes,
}

// MDLSchema returns the schema of the mDL (ISO/IEC 18013-5 Table 5).
func MDLSchema() *Schema {
	return &Schema{
		Name:    "mDL",
		Types:   map[string]map[string]Type{NamespaceMDL: mdlTypes},
		AgeOver: map[string]bool{NamespaceMDL: true},
	}
}

var photoIDGeneric = map[string]Type{
	"family_name": TypeText, "given_name": TypeText, "birth_date": TypeFullDate,
	"portrait": TypeBytes, "issue_date": TypeTDateOrFullDate, "expiry_date": TypeTDateOrFullDate,
	"issuing_authority": TypeText, "issuing_country": TypeText,
	"age_in_years": TypeUint, "age_birth_year": TypeUint,
	"family_name_viz": TypeText, "given_name_viz": TypeText,
	"enrolment_portrait_image": TypeBytes, "portrait_capture_date": TypeTDateOrFullDate,
	"birthplace": TypeText, "name_at_birth": TypeText,
	"resident_address": TypeText, "resident_city": TypeText, "resident_postal_code": TypeText,
	"resident_country": TypeText, "resident_city_latin1": TypeText, "sex": TypeUint,
	"nationality": TypeText, "document_number": TypeText, "issuing_subdivision": TypeText,
	"family_name_latin1": TypeText, "given_name_latin1": TypeText,
}

var photoIDSpecific = map[string]Type{
	"person_id": TypeText, "birth_country": TypeText, "birth_state": TypeText, "birth_city": TypeText,
	"administrative_number": TypeText, "resident_street": TypeText, "resident_house_number": TypeText,
	"resident_state": TypeText, "travel_document_type": TypeAny, "travel_document_number": TypeText,
	"travel_document_mrz": TypeText,
}

func dataGroupTypes() map[string]Type {
	m := map[string]Type{"version": TypeText, "sod": TypeBytes}
	for i := 1; i <= 16; i++ {
		m[fmt.Sprintf("dg%d", i)] = TypeBytes
	}
	return m
}

// PhotoIDSchema returns the schema of the Photo ID (ISO/IEC TS 23220-4 Annex C, DTS
// 2025-12), accepting the older spellings: docType and name space
// org.iso.23220.photoID.1, the *_unicode name elements of 23220-2 ed.1, and the
// org.iso.23220.dtc.1 data groups (dtc_version, dtc_dgN, dtc_sod).
func PhotoIDSchema() *Schema {
	dtc := map[string]string{"dtc_version": "version", "dtc_sod": "sod"}
	for i := 1; i <= 16; i++ {
		dtc[fmt.Sprintf("dtc_dg%d", i)] = fmt.Sprintf("dg%d", i)
	}
	return &Schema{
		Name: "Photo ID",
		Types: map[string]map[string]Type{
			Namespace23220:      photoIDGeneric,
			NamespacePhotoID:    photoIDSpecific,
			NamespaceDataGroups: dataGroupTypes(),
		},
		AgeOver:          map[string]bool{Namespace23220: true},
		DocTypeAliases:   map[string]string{DocTypePhotoIDOld: DocTypePhotoID},
		NameSpaceAliases: map[string]string{NamespacePhotoIDOld: NamespacePhotoID, NamespaceDTC: NamespaceDataGroups},
		ElementAliases: map[string]map[string]string{
			Namespace23220: {
				"family_name_unicode": "family_name", "given_name_unicode": "given_name",
				"issuing_authority_unicode": "issuing_authority",
				"resident_address_unicode":  "resident_address", "resident_city_unicode": "resident_city",
			},
			NamespaceDataGroups: dtc,
		},
	}
}

// canonical maps a received (docType, name space, identifier) to the current spelling.
func (s *Schema) canonicalDocType(dt string) string {
	if s != nil {
		if c, ok := s.DocTypeAliases[dt]; ok {
			return c
		}
	}
	return dt
}

func (s *Schema) canonical(ns, id string) (string, string) {
	if s == nil {
		return ns, id
	}
	if c, ok := s.NameSpaceAliases[ns]; ok {
		ns = c
	}
	if c, ok := s.ElementAliases[ns][id]; ok {
		id = c
	}
	return ns, id
}

// aliasesOf returns the older spellings (name space, identifier) of a current element.
func (s *Schema) aliasesOf(ns, id string) [][2]string {
	if s == nil {
		return nil
	}
	nss := []string{ns}
	for old, cur := range s.NameSpaceAliases {
		if cur == ns {
			nss = append(nss, old)
		}
	}
	ids := []string{id}
	for old, cur := range s.ElementAliases[ns] {
		if cur == id {
			ids = append(ids, old)
		}
	}
	var out [][2]string
	for _, n := range nss {
		for _, i := range ids {
			if n != ns || i != id {
				out = append(out, [2]string{n, i})
			}
		}
	}
	return out
}

// TypeOf returns the expected type of a (current-spelling) element, and false when the
// schema does not constrain it.
func (s *Schema) TypeOf(ns, id string) (Type, bool) {
	if s == nil {
		return "", false
	}
	if t, ok := s.Types[ns][id]; ok {
		return t, true
	}
	if s.AgeOver[ns] && isAgeOver(id) {
		return TypeBool, true
	}
	return "", false
}

func isAgeOver(id string) bool {
	return len(id) == len("age_over_NN") && strings.HasPrefix(id, "age_over_") &&
		isDigit(id[9]) && isDigit(id[10])
}

// CheckType reports whether raw (one CBOR data item) has type t. Untagged text for
// full-date and tdate is accepted only when strict is false (some wallets send it).
func CheckType(t Type, raw []byte, strict bool) error {
	if len(raw) == 0 {
		return errors.New("empty value")
	}
	if err := messages.DecMode().Wellformed(raw); err != nil {
		return fmt.Errorf("not well-formed CBOR: %w", err)
	}
	major := raw[0] >> 5
	switch t {
	case TypeAny:
		return nil
	case TypeText:
		if major != 3 {
			return fmt.Errorf("want tstr, got %s", describe(raw))
		}
		var s string
		if err := messages.Unmarshal(raw, &s); err != nil || !utf8.ValidString(s) {
			return errors.New("want tstr, got invalid text")
		}
		return nil
	case TypeUint:
		if major != 0 {
			return fmt.Errorf("want uint, got %s", describe(raw))
		}
		return nil
	case TypeBool:
		if raw[0] != 0xf4 && raw[0] != 0xf5 {
			return fmt.Errorf("want bool, got %s", describe(raw))
		}
		return nil
	case TypeBytes:
		if major != 2 {
			return fmt.Errorf("want bstr, got %s", describe(raw))
		}
		return nil
	case TypeFullDate:
		return checkFullDate(raw, strict)
	case TypeTDate:
		return checkTDate(raw, strict)
	case TypeTDateOrFullDate:
		if checkFullDate(raw, strict) == nil || checkTDate(raw, strict) == nil {
			return nil
		}
		return fmt.Errorf("want tdate or full-date, got %s", describe(raw))
	case TypeTextArray:
		var arr []cbor.RawMessage
		if major != 4 || messages.Unmarshal(raw, &arr) != nil || len(arr) == 0 {
			return fmt.Errorf("want a non-empty array of tstr, got %s", describe(raw))
		}
		for i, e := range arr {
			if err := CheckType(TypeText, e, strict); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
		return nil
	case TypeDrivingPrivileges:
		return checkDrivingPrivileges(raw, strict)
	}
	return fmt.Errorf("unknown type %q", t)
}

func checkFullDate(raw []byte, strict bool) error {
	var fd messages.FullDate
	if err := fd.UnmarshalCBOR(raw); err != nil {
		return fmt.Errorf("want full-date, got %s", describe(raw))
	}
	if strict && fd.Untagged {
		return errors.New("want full-date (tag 1004), got untagged text")
	}
	return nil
}

func checkTDate(raw []byte, strict bool) error {
	if raw[0]>>5 == 2 { // TDate's decoder tolerates a byte-string wrapping; a type check does not
		return fmt.Errorf("want tdate, got %s", describe(raw))
	}
	var td messages.TDate
	if err := td.UnmarshalCBOR(raw); err != nil {
		return fmt.Errorf("want tdate, got %s", describe(raw))
	}
	if strict && td.Untagged {
		return errors.New("want tdate (tag 0), got untagged text")
	}
	return nil
}

// checkDrivingPrivileges validates [* DrivingPrivilege] (18013-5 7.2.4).
func checkDrivingPrivileges(raw []byte, strict bool) error {
	var arr []cbor.RawMessage
	if raw[0]>>5 != 4 || messages.Unmarshal(raw, &arr) != nil {
		return fmt.Errorf("want an array of DrivingPrivilege, got %s", describe(raw))
	}
	for i, e := range arr {
		var m map[string]cbor.RawMessage
		if e[0]>>5 != 5 || messages.Unmarshal(e, &m) != nil {
			return fmt.Errorf("driving_privileges[%d]: want a map with text keys, got %s", i, describe(e))
		}
		vcc, ok := m["vehicle_category_code"]
		if !ok {
			return fmt.Errorf("driving_privileges[%d]: vehicle_category_code missing", i)
		}
		if err := CheckType(TypeText, vcc, strict); err != nil {
			return fmt.Errorf("driving_privileges[%d].vehicle_category_code: %w", i, err)
		}
		for _, k := range []string{"issue_date", "expiry_date"} {
			if v, ok := m[k]; ok {
				if err := CheckType(TypeFullDate, v, strict); err != nil {
					return fmt.Errorf("driving_privileges[%d].%s: %w", i, k, err)
				}
			}
		}
		if v, ok := m["codes"]; ok {
			var codes []cbor.RawMessage
			if v[0]>>5 != 4 || messages.Unmarshal(v, &codes) != nil || len(codes) == 0 {
				return fmt.Errorf("driving_privileges[%d].codes: want a non-empty array, got %s", i, describe(v))
			}
			for j, c := range codes {
				var cm map[string]cbor.RawMessage
				if c[0]>>5 != 5 || messages.Unmarshal(c, &cm) != nil {
					return fmt.Errorf("driving_privileges[%d].codes[%d]: want a map, got %s", i, j, describe(c))
				}
				code, ok := cm["code"]
				if !ok {
					return fmt.Errorf("driving_privileges[%d].codes[%d]: code missing", i, j)
				}
				if err := CheckType(TypeText, code, strict); err != nil {
					return fmt.Errorf("driving_privileges[%d].codes[%d].code: %w", i, j, err)
				}
				for _, k := range []string{"sign", "value"} {
					if v, ok := cm[k]; ok {
						if err := CheckType(TypeText, v, strict); err != nil {
							return fmt.Errorf("driving_privileges[%d].codes[%d].%s: %w", i, j, k, err)
						}
					}
				}
			}
		}
	}
	return nil
}

// describe names the CBOR type of raw for error messages; it never echoes the value.
func describe(raw []byte) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] >> 5 {
	case 0:
		return "uint"
	case 1:
		return "negative int"
	case 2:
		return "bstr"
	case 3:
		return "tstr"
	case 4:
		return "array"
	case 5:
		return "map"
	case 6:
		var tag cbor.RawTag
		if messages.Unmarshal(raw, &tag) == nil {
			return fmt.Sprintf("tag %d", tag.Number)
		}
		return "tag"
	}
	switch raw[0] {
	case 0xf4, 0xf5:
		return "bool"
	case 0xf6:
		return "null"
	case 0xf7:
		return "undefined"
	case 0xf9, 0xfa, 0xfb:
		return "float"
	}
	return "simple value"
}
