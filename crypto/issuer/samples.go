package issuer

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"math/big"
	"sync"

	"github.com/mdocgate/mdocgate/messages"
)

// Document types and name spaces of the sample data sets (file 07 of the spec digest).
const (
	DocTypeMDL        = "org.iso.18013.5.1.mDL"
	NamespaceMDL      = "org.iso.18013.5.1"
	DocTypePhotoID    = "org.iso.23220.photoid.1"
	Namespace23220    = "org.iso.23220.1"         // generic name space of 23220-2 (Photo ID Table C.1)
	NamespacePhotoID  = "org.iso.23220.photoid.1" // Photo ID specific elements (Table C.2)
	sampleCountry     = "UT"
	sampleAuthority   = "mdocgate test authority"
	sampleFamilyName  = "Mustermann"
	sampleGivenName   = "Erika"
	samplePortraitW   = 48
	samplePortraitH   = 60
	sampleJPEGQuality = 60
)

var portrait = sync.OnceValue(func() []byte {
	img := image.NewRGBA(image.Rect(0, 0, samplePortraitW, samplePortraitH))
	cx, cy := samplePortraitW/2, samplePortraitH*2/5
	for y := range samplePortraitH {
		for x := range samplePortraitW {
			c := color.RGBA{uint8(140 + x), uint8(170 + y), 210, 255} // background
			dx, dy := x-cx, y-cy
			if dx*dx*5+dy*dy*3 < 900 { // head
				c = color.RGBA{225, 185, 150, 255}
			}
			if y > samplePortraitH*3/4 && dx*dx < 300 { // shoulders
				c = color.RGBA{40, 60, 110, 255}
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: sampleJPEGQuality}); err != nil {
		panic(err)
	}
	return buf.Bytes()
})

// SamplePortrait returns a small valid JPEG (a few hundred bytes to ~2 KB) used as the
// portrait of the sample data sets. The bytes are the same on every call; do not modify
// them.
func SamplePortrait() []byte { return portrait() }

func date(s string) messages.FullDate {
	d, err := messages.ParseFullDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

func documentNumber(rnd io.Reader) string {
	if rnd == nil {
		rnd = rand.Reader
	}
	n, err := rand.Int(rnd, big.NewInt(1_000_000_000))
	if err != nil {
		n = big.NewInt(123456789)
	}
	return fmt.Sprintf("D%09d", n)
}

// Sample returns a sample data set by its name: "mdl" (SampleMDL) or "photoid"
// (SamplePhotoID), with its document type; ok is false for another name.
func Sample(name string) (docType string, ns []NameSpace, ok bool) {
	switch name {
	case "mdl":
		return DocTypeMDL, SampleMDL(nil), true
	case "photoid":
		return DocTypePhotoID, SamplePhotoID(nil), true
	}
	return "", nil, false
}

// SampleMDL returns test data for an mDL (docType DocTypeMDL), name space
// org.iso.18013.5.1 with every mandatory element of 18013-5 Table 5 plus age_over_18 and
// age_over_21. Dates are fixed full-dates (issued 2024-01-01, expiring 2034-01-01); the
// document number is drawn from rand (nil means crypto/rand).
func SampleMDL(rand io.Reader) []NameSpace {
	var cat messages.Map[string, any]
	cat.Set("vehicle_category_code", "B")
	cat.Set("issue_date", date("2024-01-01"))
	cat.Set("expiry_date", date("2034-01-01"))
	var catA messages.Map[string, any]
	catA.Set("vehicle_category_code", "A")
	catA.Set("issue_date", date("2024-01-01"))
	catA.Set("expiry_date", date("2034-01-01"))
	return []NameSpace{{Name: NamespaceMDL, Elements: []Element{
		{"family_name", sampleFamilyName},
		{"given_name", sampleGivenName},
		{"birth_date", date("1990-08-12")},
		{"issue_date", date("2024-01-01")},
		{"expiry_date", date("2034-01-01")},
		{"issuing_country", sampleCountry},
		{"issuing_authority", sampleAuthority},
		{"document_number", documentNumber(rand)},
		{"portrait", SamplePortrait()},
		{"driving_privileges", []any{cat, catA}},
		{"un_distinguishing_sign", "UTO"},
		{"age_over_18", true},
		{"age_over_21", true},
	}}}
}

// SamplePhotoID returns test data for a Photo ID (docType DocTypePhotoID) with the
// identifiers of TS 23220-4 DTS 2025-12 Annex C: name space org.iso.23220.1 with every
// mandatory element of Table C.1 (family_name, given_name, birth_date, portrait,
// issue_date, expiry_date, issuing_authority, issuing_country, age_over_18) plus
// document_number and sex, and name space org.iso.23220.photoid.1 with person_id,
// birth_country and resident_state. The document number is drawn from rand.
func SamplePhotoID(rand io.Reader) []NameSpace {
	num := documentNumber(rand)
	return []NameSpace{
		{Name: Namespace23220, Elements: []Element{
			{"family_name", sampleFamilyName},
			{"given_name", sampleGivenName},
			{"birth_date", date("1990-08-12")},
			{"portrait", SamplePortrait()},
			{"issue_date", date("2024-01-01")},
			{"expiry_date", date("2034-01-01")},
			{"issuing_authority", sampleAuthority},
			{"issuing_country", sampleCountry},
			{"age_over_18", true},
			{"document_number", num},
			{"sex", uint64(2)},
		}},
		{Name: NamespacePhotoID, Elements: []Element{
			{"person_id", "P" + num[1:]},
			{"birth_country", sampleCountry},
			{"resident_state", "Testland"},
		}},
	}
}
