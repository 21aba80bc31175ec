package messages

import (
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// ISO/IEC 18013-7 Annex C: mdoc presentation through the W3C Digital Credentials API
// (protocol "org-iso-mdoc"). The reader hands the browser a DeviceRequest and an
// EncryptionInfo; the wallet answers with its DeviceResponse sealed by HPKE to the
// EncryptionInfo's recipient key. Both are arrays tagged "dcapi".

// DCAPIName is the first element of EncryptionInfo, of the encrypted response and of
// the Annex C Handover.
const DCAPIName = "dcapi"

// Limits of the Annex C structures.
const (
	// MaxDCAPINonce bounds EncryptionInfo's nonce.
	MaxDCAPINonce = 1024
	// MaxDCAPIEnc bounds the HPKE encapsulated key of a response (65 bytes on P-256).
	MaxDCAPIEnc = 256
)

// EncryptionInfo is ["dcapi", {"nonce": bstr, "recipientPublicKey": COSE_Key}]: the
// reader's nonce (at least 16 bytes) and the public key the wallet seals its response to.
type EncryptionInfo struct {
	Nonce              []byte
	RecipientPublicKey COSEKey
}

type encryptionInfoParams struct {
	Nonce              []byte  `cbor:"nonce"`
	RecipientPublicKey COSEKey `cbor:"recipientPublicKey"`
}

// dcapiArray is the ["dcapi", {...}] shape of EncryptionInfo and the encrypted response.
type dcapiArray struct {
	_      struct{} `cbor:",toarray"`
	Name   string
	Params cbor.RawMessage
}

// MarshalCBOR encodes EncryptionInfo (preferred serialization).
func (e EncryptionInfo) MarshalCBOR() ([]byte, error) {
	p, err := Marshal(encryptionInfoParams(e))
	if err != nil {
		return nil, err
	}
	return Marshal(dcapiArray{Name: DCAPIName, Params: p})
}

// DecodeEncryptionInfo decodes an EncryptionInfo: the "dcapi" name, a nonce of 16 to
// MaxDCAPINonce bytes and a public COSE_Key.
func DecodeEncryptionInfo(data []byte) (*EncryptionInfo, error) {
	var p encryptionInfoParams
	if err := decodeDCAPI("EncryptionInfo", data, &p); err != nil {
		return nil, err
	}
	switch {
	case len(p.Nonce) < 16 || len(p.Nonce) > MaxDCAPINonce:
		return nil, &DecodeError{"EncryptionInfo", fmt.Errorf("nonce of %d bytes (16..%d)", len(p.Nonce), MaxDCAPINonce)}
	case p.RecipientPublicKey.Kty == 0 || len(p.RecipientPublicKey.X) == 0:
		return nil, &DecodeError{"EncryptionInfo", errors.New("recipientPublicKey (COSE_Key) missing")}
	case p.RecipientPublicKey.D != nil:
		return nil, &DecodeError{"EncryptionInfo", errors.New("recipientPublicKey carries a private key")}
	}
	return &EncryptionInfo{Nonce: p.Nonce, RecipientPublicKey: p.RecipientPublicKey}, nil
}

// DCAPIResponse is the wallet's encrypted answer, ["dcapi", {"enc": bstr, "cipherText":
// bstr}]: the HPKE encapsulated key and the sealed DeviceResponse.
type DCAPIResponse struct {
	Enc        []byte `cbor:"enc"`
	CipherText []byte `cbor:"cipherText"`
}

// MarshalCBOR encodes the response (preferred serialization).
func (r DCAPIResponse) MarshalCBOR() ([]byte, error) {
	type params DCAPIResponse
	p, err := Marshal(params(r))
	if err != nil {
		return nil, err
	}
	return Marshal(dcapiArray{Name: DCAPIName, Params: p})
}

// DecodeDCAPIResponse decodes an encrypted Annex C response: the "dcapi" name, an enc
// of 1 to MaxDCAPIEnc bytes and a non-empty cipherText (bounded by MaxMessageSize as a
// whole).
func DecodeDCAPIResponse(data []byte) (*DCAPIResponse, error) {
	type params DCAPIResponse
	var p params
	if err := decodeDCAPI("DCAPIResponse", data, &p); err != nil {
		return nil, err
	}
	switch {
	case len(p.Enc) == 0 || len(p.Enc) > MaxDCAPIEnc:
		return nil, &DecodeError{"DCAPIResponse", fmt.Errorf("enc of %d bytes (1..%d)", len(p.Enc), MaxDCAPIEnc)}
	case len(p.CipherText) == 0:
		return nil, &DecodeError{"DCAPIResponse", errors.New("cipherText missing or empty")}
	}
	r := DCAPIResponse(p)
	return &r, nil
}

// decodeDCAPI reads ["dcapi", params] into params (a struct with cbor field names; its
// fields absent from the map stay zero).
func decodeDCAPI(structure string, data []byte, params any) error {
	var a dcapiArray
	if err := decodeAs(structure, data, &a); err != nil {
		return err
	}
	if a.Name != DCAPIName {
		return &DecodeError{structure, fmt.Errorf("first element %q, want %q", a.Name, DCAPIName)}
	}
	if len(a.Params) == 0 || a.Params[0]>>5 != 5 {
		return &DecodeError{structure, errors.New("second element is not a map")}
	}
	if err := decMode.Unmarshal(a.Params, params); err != nil {
		return &DecodeError{structure, err}
	}
	return nil
}

// DCAPIHandover is the Handover of ISO/IEC 18013-7 Annex C: ["dcapi",
// SHA-256(CBOR([encryptionInfoB64, origin]))], where encryptionInfoB64 is the base64url
// EncryptionInfo exactly as handed to the browser and origin the serialized origin of
// the page that asked (no trailing slash).
func DCAPIHandover(encryptionInfoB64, origin string) cbor.RawMessage {
	h := sha256.Sum256(DCAPIHandoverInfo(encryptionInfoB64, origin))
	return mustMarshal([]any{DCAPIName, h[:]})
}

// DCAPIHandoverInfo returns the CBOR the Annex C handover hashes.
func DCAPIHandoverInfo(encryptionInfoB64, origin string) []byte {
	return mustMarshal([]any{encryptionInfoB64, origin})
}
