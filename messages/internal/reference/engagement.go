package reference

import (
	"bytes"
	"errors"

	"github.com/fxamacker/cbor/v2"
)

// Engagement keys (18013-5 §8.2.1.1, 2nd edition and 23220-4 additions).
const (
	engVersion                = 0
	engSecurity               = 1
	engDeviceRetrievalMethods = 2
	engServerRetrievalMethods = 3
	engProtocolInfo           = 4
	engOriginInfos            = 5
	engCapabilities           = 6
)

// Engagement is a DeviceEngagement or a ReaderEngagement: both share one integer-keyed
// layout, with EDeviceKey or EReaderKey in Security. Unknown keys are kept in Other.
//
// A decoded Engagement remembers the bytes it came from (raw).
type Engagement struct {
	Version                string
	Security               Security
	DeviceRetrievalMethods []RetrievalMethod
	ServerRetrievalMethods *ServerRetrievalMethods
	ProtocolInfo           cbor.RawMessage
	OriginInfos            []OriginInfo // nil when absent; empty slice when sent empty
	Capabilities           *Capabilities
	Other                  Map[int64, cbor.RawMessage]

	raw []byte
}

// Security is [cipherSuiteIdentifier, ESenderKeyBytes].
type Security struct {
	_           struct{} `cbor:",toarray"`
	CipherSuite int64
	KeyBytes    EncodedCBOR // #6.24(bstr .cbor COSE_Key)
}

// UnmarshalCBOR decodes an engagement and keeps its bytes.
func (e *Engagement) UnmarshalCBOR(data []byte) error {
	f, err := newFieldMap[int64]("Engagement", data)
	if err != nil {
		return err
	}
	var out Engagement
	f.req(engVersion, &out.Version)
	f.req(engSecurity, &out.Security)
	if f.opt(engDeviceRetrievalMethods, &out.DeviceRetrievalMethods) && len(out.DeviceRetrievalMethods) == 0 {
		f.err = errors.New("Engagement: DeviceRetrievalMethods is empty")
	}
	var srm ServerRetrievalMethods
	if f.opt(engServerRetrievalMethods, &srm) {
		out.ServerRetrievalMethods = &srm
	}
	f.opt(engProtocolInfo, &out.ProtocolInfo)
	if f.opt(engOriginInfos, &out.OriginInfos) && out.OriginInfos == nil {
		out.OriginInfos = []OriginInfo{}
	}
	var caps Capabilities
	if f.opt(engCapabilities, &caps) {
		out.Capabilities = &caps
	}
	if f.err != nil {
		return f.err
	}
	if len(out.Version) == 0 || len(out.Version) > 16 {
		return errors.New("Engagement: invalid version")
	}
	if out.Security.KeyBytes.IsZero() {
		return errors.New("Engagement: Security has no key")
	}
	out.Other = f.rest()
	out.raw = bytes.Clone(data)
	*e = out
	return nil
}

// DecodeEngagement decodes a DeviceEngagement or ReaderEngagement.
func DecodeEngagement(data []byte) (*Engagement, error) {
	var e Engagement
	if err := decodeAs("Engagement", data, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// RetrievalMethod is one DeviceRetrievalMethod: [type, version, options].
type RetrievalMethod struct {
	_       struct{} `cbor:",toarray"`
	Type    int64
	Version uint64
	Options Map[int64, cbor.RawMessage]
}

// ServerRetrievalMethods is key 3 of an engagement.
type ServerRetrievalMethods struct {
	WebAPI *ServerRetrievalInfo `cbor:"webApi,omitempty"`
	OIDC   *ServerRetrievalInfo `cbor:"oidc,omitempty"`
}

// ServerRetrievalInfo is [version, issuer URL, server retrieval token].
type ServerRetrievalInfo struct {
	_         struct{} `cbor:",toarray"`
	Version   uint64
	IssuerURL string
	Token     string
}

// OriginInfo tells how an engagement was delivered or received. Implementations disagree
// on its spelling; decoding accepts "details" and "Details".
type OriginInfo struct {
	Cat     uint64
	Type    uint64
	Details Map[string, cbor.RawMessage]
	// DetailsKey is the spelling received ("details" or "Details").
	DetailsKey string
}

// UnmarshalCBOR reads an OriginInfo in any of the spellings seen.
func (o *OriginInfo) UnmarshalCBOR(data []byte) error {
	f, err := newFieldMap[string]("OriginInfo", data)
	if err != nil {
		return err
	}
	var out OriginInfo
	f.req("cat", &out.Cat)
	f.req("type", &out.Type)
	for _, k := range []string{"details", "Details"} {
		if f.opt(k, &out.Details) {
			out.DetailsKey = k
			break
		}
	}
	if f.err != nil {
		return f.err
	}
	*o = out
	return nil
}

// Capabilities is key 6 of an engagement: an integer-keyed map, kept as received.
type Capabilities struct {
	Map[int64, cbor.RawMessage]
}
