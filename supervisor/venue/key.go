package venue

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/mdocgate/mdocgate/messages"
)

// What identifies a credential for anti-passback and the deny list.
const (
	// KeyDeviceKey: the docType and the thumbprint of the MSO's device key (the default;
	// a re-issued credential with a new device key is a new credential).
	KeyDeviceKey = "device_key"
	// KeyDocumentNumber: the issuing country and the document number (a document is
	// one admission whatever device presents it).
	KeyDocumentNumber = "document_number"
)

// DeviceKeyID is the credential's name under KeyDeviceKey: "dk:DOCTYPE:THUMBPRINT",
// the thumbprint being the hex SHA-256 of the key's required parameters (kty, crv, x,
// y) in deterministic CBOR (as RFC 9679 draws a COSE key thumbprint).
func DeviceKeyID(docType string, k *messages.COSEKey) (string, error) {
	b, err := messages.COSEKey{Kty: k.Kty, Crv: k.Crv, X: k.X, Y: k.Y}.MarshalCBOR()
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return "dk:" + docType + ":" + hex.EncodeToString(sum[:]), nil
}

// DocumentNumberID is the credential's name under KeyDocumentNumber:
// "dn:COUNTRY:NUMBER".
func DocumentNumberID(country, number string) string {
	return "dn:" + strings.ToUpper(country) + ":" + number
}

// CredentialKey turns a credential's name (DeviceKeyID, DocumentNumberID) into the
// key the venue stores: its hex SHA-256, so that no document number or key travels
// to the store, the logs or the deny list. A key already in that form (64 hex digits)
// is returned as it is, so an operator can name a credential by the key a gate logged.
func CredentialKey(id string) string {
	if isKey(id) {
		return strings.ToLower(id)
	}
	sum := sha256.Sum256([]byte(id))
	return hex.EncodeToString(sum[:])
}

func isKey(s string) bool {
	if len(s) != 64 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}
