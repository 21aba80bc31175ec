package issuer

import (
	"time"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/messages"
)

// DirOptions describe the credential IssueDir issues.
type DirOptions struct {
	DocType    string
	NameSpaces []NameSpace
	// Curve is the COSE curve of a new IACA, the DS and the device key; default P-256.
	Curve int64
	// CA is the folder of an earlier IssueDir whose IACA (FileIACA, FileIACAKey) issues
	// this credential; empty: a new IACA.
	CA string
	// ValidFor is the MSO's validity from now, which is also when it was signed (whole
	// seconds, UTC).
	ValidFor time.Duration
	// StatusList, optional, is the MSO's token status list entry.
	StatusList *messages.StatusListRef
	// CRLURL, optional, is the DS certificate's CRL distribution point.
	CRLURL string
}

// IssueDir issues a credential under a new Document Signer with a new device key and
// writes it into dir as WriteDir does, with the IACA's key (WriteAuthorityKey) so that a
// later IssueDir or issuer-serve acts as the same IACA (`mdocgate issue`).
func IssueDir(dir string, o DirOptions) error {
	iaca, err := LoadOrNewAuthority(o.CA, IACAOptions{Curve: o.Curve, CommonName: "mdocgate test IACA"})
	if err != nil {
		return err
	}
	ds, err := iaca.NewDocumentSigner(DSOptions{Curve: o.Curve, CommonName: "mdocgate test DS", CRLURL: o.CRLURL})
	if err != nil {
		return err
	}
	curve := o.Curve
	if curve == 0 {
		curve = messages.CurveP256
	}
	deviceKey, err := keys.Generate(curve, nil)
	if err != nil {
		return err
	}
	now := time.Now().UTC().Truncate(time.Second)
	cred, err := ds.Issue(IssueRequest{
		DocType: o.DocType, NameSpaces: o.NameSpaces, DeviceKey: deviceKey.COSEKey(),
		Signed: now, ValidFrom: now, ValidUntil: now.Add(o.ValidFor), StatusList: o.StatusList,
	})
	if err != nil {
		return err
	}
	if err := WriteDir(dir, iaca, ds, cred, deviceKey); err != nil {
		return err
	}
	return WriteAuthorityKey(dir, iaca)
}
