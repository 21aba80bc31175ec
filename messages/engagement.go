package messages

import (
	"bytes"
	"errors"
	"fmt"

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

// CipherSuite1 is the only cipher suite identifier defined (ECDH + HKDF + AES-256-GCM).
const CipherSuite1 = 1

// Device retrieval method types.
const (
	RetrievalNFC       = 1
	RetrievalBLE       = 2
	RetrievalWiFiAware = 3
	RetrievalHTTP      = 4
)

// Engagement is a DeviceEngagement or a ReaderEngagement: both share one integer-keyed
// layout, with EDeviceKey or EReaderKey in Security. Unknown keys are kept in Other.
//
// A decoded Engagement remembers the bytes it came from (Raw); the SessionTranscript
// must be built over those bytes, not over a re-encoding.
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

// DeviceEngagement is the mdoc's engagement structure.
type DeviceEngagement = Engagement

// ReaderEngagement is the reader's engagement structure (reverse engagement).
type ReaderEngagement = Engagement

// Security is [cipherSuiteIdentifier, ESenderKeyBytes].
type Security struct {
	_           struct{} `cbor:",toarray"`
	CipherSuite int64
	KeyBytes    EncodedCBOR // #6.24(bstr .cbor COSE_Key)
}

// Key decodes the ephemeral key carried in Security.
func (s Security) Key() (*COSEKey, error) {
	var k COSEKey
	if err := s.KeyBytes.decodeInto(&k); err != nil {
		return nil, fmt.Errorf("engagement security key: %w", err)
	}
	return &k, nil
}

// Raw returns the bytes the engagement was decoded from, or nil for a built one.
func (e *Engagement) Raw() []byte { return e.raw }

// Bytes returns the engagement as sent: the received bytes when decoded, otherwise the
// encoding. Use it for DeviceEngagementBytes and ReaderEngagementBytes.
func (e *Engagement) Bytes() ([]byte, error) {
	if e.raw != nil {
		return e.raw, nil
	}
	return encMode.Marshal(e)
}

// EncodedBytes returns #6.24(bstr .cbor Engagement) over Bytes().
func (e *Engagement) EncodedBytes() (EncodedCBOR, error) {
	b, err := e.Bytes()
	if err != nil {
		return EncodedCBOR{}, err
	}
	return NewEncodedCBOR(b), nil
}

// MarshalCBOR writes keys 0..6 in order, then extensions.
func (e Engagement) MarshalCBOR() ([]byte, error) { return e.appendCBOR(nil) }

func (e Engagement) appendCBOR(dst []byte) ([]byte, error) {
	if e.Version == "" {
		return nil, errors.New("engagement: version missing")
	}
	v11 := e.OriginInfos != nil || e.Capabilities != nil
	if v11 && e.Version == "1.0" {
		return nil, errors.New(`engagement: version must be "1.1" when OriginInfos or Capabilities is present`)
	}
	var m Map[int64, any]
	m.reserve(4)
	m.Set(engVersion, e.Version)
	m.Set(engSecurity, e.Security)
	if e.DeviceRetrievalMethods != nil {
		m.Set(engDeviceRetrievalMethods, e.DeviceRetrievalMethods)
	}
	if e.ServerRetrievalMethods != nil {
		m.Set(engServerRetrievalMethods, e.ServerRetrievalMethods)
	}
	if e.ProtocolInfo != nil {
		m.Set(engProtocolInfo, e.ProtocolInfo)
	}
	if e.OriginInfos != nil {
		m.Set(engOriginInfos, e.OriginInfos)
	}
	if e.Capabilities != nil {
		m.Set(engCapabilities, e.Capabilities)
	}
	appendRest(&m, e.Other)
	return m.appendCBOR(dst)
}

// UnmarshalCBOR decodes an engagement and keeps its bytes.
func (e *Engagement) UnmarshalCBOR(data []byte) error {
	return unmarshalOwn(e, data)
}

func (e *Engagement) topMap() bool { return true }

func (e *Engagement) decode(data []byte, t trust) error {
	var f fieldMap[int64]
	if err := f.init("Engagement", data, t); err != nil {
		return err
	}
	f.text(engVersion, &e.Version, true)
	f.generic(engSecurity, &e.Security, true)
	if f.generic(engDeviceRetrievalMethods, &e.DeviceRetrievalMethods, false) && len(e.DeviceRetrievalMethods) == 0 {
		f.err = errors.New("Engagement: DeviceRetrievalMethods is empty")
	}
	if raw, ok := f.take(engServerRetrievalMethods, false); ok {
		srm := new(ServerRetrievalMethods)
		if f.fail(engServerRetrievalMethods, decodeValue(raw, srm, f.t)) {
			e.ServerRetrievalMethods = srm
		}
	}
	f.raw(engProtocolInfo, &e.ProtocolInfo, false)
	if raw, ok := f.take(engOriginInfos, false); ok {
		if f.fail(engOriginInfos, decodeOwnSlice(raw, f.t, &e.OriginInfos)) && e.OriginInfos == nil {
			e.OriginInfos = []OriginInfo{}
		}
	}
	if raw, ok := f.take(engCapabilities, false); ok {
		caps := new(Capabilities)
		if f.fail(engCapabilities, caps.decode(raw, f.t)) {
			e.Capabilities = caps
		}
	}
	if f.err != nil {
		return f.err
	}
	if len(e.Version) == 0 || len(e.Version) > 16 {
		return errors.New("Engagement: invalid version")
	}
	if e.Security.KeyBytes.IsZero() {
		return errors.New("Engagement: Security has no key")
	}
	e.Other = f.rest()
	e.raw = bytes.Clone(data) // kept apart from the fields, which a caller may change
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

// NewEngagement builds an engagement carrying key (public COSE_Key) with cipher suite 1.
// The version is "1.0". A caller that sets OriginInfos or Capabilities must also set
// Version to "1.1": the version is not changed automatically, and MarshalCBOR refuses
// version "1.0" with either field present.
func NewEngagement(key *COSEKey, methods ...RetrievalMethod) (*Engagement, error) {
	kb, err := EncodeToCBOR(key.Public())
	if err != nil {
		return nil, err
	}
	return &Engagement{
		Version:                "1.0",
		Security:               Security{CipherSuite: CipherSuite1, KeyBytes: kb},
		DeviceRetrievalMethods: methods,
	}, nil
}

// RetrievalMethod is one DeviceRetrievalMethod: [type, version, options].
type RetrievalMethod struct {
	_       struct{} `cbor:",toarray"`
	Type    int64
	Version uint64
	Options Map[int64, cbor.RawMessage]
}

// BLEOptions are the options of a BLE retrieval method.
type BLEOptions struct {
	PeripheralServerMode bool
	CentralClientMode    bool
	PeripheralServerUUID []byte // 16 bytes, big-endian
	CentralClientUUID    []byte // 16 bytes, big-endian
	PeripheralAddress    []byte // 6 bytes
	L2CAPPSM             *uint64
}

// NFCOptions are the options of an NFC retrieval method.
type NFCOptions struct {
	MaxCommandDataLength  uint64
	MaxResponseDataLength uint64
}

// WiFiAwareOptions are the options of a Wi-Fi Aware retrieval method.
type WiFiAwareOptions struct {
	Passphrase     string
	OperatingClass *uint64
	ChannelNumber  *uint64
	SupportedBands []byte
}

// HTTPOptions are the options of an HTTP (website) retrieval method.
type HTTPOptions struct {
	URI string
}

func optionsOf(pairs ...any) Map[int64, cbor.RawMessage] {
	var m Map[int64, cbor.RawMessage]
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == nil {
			continue
		}
		m.Set(int64(pairs[i].(int)), mustMarshal(pairs[i+1]))
	}
	return m
}

// NewBLEMethod builds a BLE retrieval method.
func NewBLEMethod(o BLEOptions) RetrievalMethod {
	pairs := []any{0, o.PeripheralServerMode, 1, o.CentralClientMode}
	if o.PeripheralServerUUID != nil {
		pairs = append(pairs, 10, o.PeripheralServerUUID)
	}
	if o.CentralClientUUID != nil {
		pairs = append(pairs, 11, o.CentralClientUUID)
	}
	if o.PeripheralAddress != nil {
		pairs = append(pairs, 20, o.PeripheralAddress)
	}
	if o.L2CAPPSM != nil {
		pairs = append(pairs, 21, *o.L2CAPPSM)
	}
	return RetrievalMethod{Type: RetrievalBLE, Version: 1, Options: optionsOf(pairs...)}
}

// NewNFCMethod builds an NFC retrieval method.
func NewNFCMethod(o NFCOptions) RetrievalMethod {
	return RetrievalMethod{Type: RetrievalNFC, Version: 1,
		Options: optionsOf(0, o.MaxCommandDataLength, 1, o.MaxResponseDataLength)}
}

// NewWiFiAwareMethod builds a Wi-Fi Aware retrieval method.
func NewWiFiAwareMethod(o WiFiAwareOptions) RetrievalMethod {
	pairs := []any{}
	if o.Passphrase != "" {
		pairs = append(pairs, 0, o.Passphrase)
	}
	if o.OperatingClass != nil {
		pairs = append(pairs, 1, *o.OperatingClass)
	}
	if o.ChannelNumber != nil {
		pairs = append(pairs, 2, *o.ChannelNumber)
	}
	if o.SupportedBands != nil {
		pairs = append(pairs, 3, o.SupportedBands)
	}
	return RetrievalMethod{Type: RetrievalWiFiAware, Version: 1, Options: optionsOf(pairs...)}
}

// NewHTTPMethod builds an HTTP (website) retrieval method.
func NewHTTPMethod(uri string) RetrievalMethod {
	return RetrievalMethod{Type: RetrievalHTTP, Version: 1, Options: optionsOf(0, uri)}
}

func (r *RetrievalMethod) option(key int64, v any) (bool, error) {
	raw, ok := r.Options.Get(key)
	if !ok {
		return false, nil
	}
	if isNullOrUndefined(raw) {
		return true, fmt.Errorf("retrieval method %d option %d: null", r.Type, key)
	}
	if err := decodeValue(raw, v, 0); err != nil {
		return true, fmt.Errorf("retrieval method %d option %d: %w", r.Type, key, err)
	}
	return true, nil
}

// BLE returns the BLE options. It checks the 18013-5 consistency rules: a UUID is present
// for every mode that is offered and UUIDs are 16 bytes.
func (r *RetrievalMethod) BLE() (BLEOptions, error) {
	var o BLEOptions
	if r.Type != RetrievalBLE {
		return o, errors.New("not a BLE retrieval method")
	}
	var psm uint64
	for _, f := range []struct {
		key int64
		v   any
	}{{0, &o.PeripheralServerMode}, {1, &o.CentralClientMode}, {10, &o.PeripheralServerUUID},
		{11, &o.CentralClientUUID}, {20, &o.PeripheralAddress}} {
		if _, err := r.option(f.key, f.v); err != nil {
			return o, err
		}
	}
	if ok, err := r.option(21, &psm); err != nil {
		return o, err
	} else if ok {
		o.L2CAPPSM = &psm
	}
	if !o.PeripheralServerMode && !o.CentralClientMode {
		return o, errors.New("BLE retrieval method offers no mode")
	}
	if o.PeripheralServerMode && len(o.PeripheralServerUUID) != 16 {
		return o, errors.New("BLE peripheral server mode without a 16-byte UUID")
	}
	if o.CentralClientMode && len(o.CentralClientUUID) != 16 {
		return o, errors.New("BLE central client mode without a 16-byte UUID")
	}
	if o.PeripheralAddress != nil && len(o.PeripheralAddress) != 6 {
		return o, errors.New("BLE device address is not 6 bytes")
	}
	return o, nil
}

// NFC returns the NFC options.
func (r *RetrievalMethod) NFC() (NFCOptions, error) {
	var o NFCOptions
	if r.Type != RetrievalNFC {
		return o, errors.New("not an NFC retrieval method")
	}
	if ok, err := r.option(0, &o.MaxCommandDataLength); err != nil || !ok {
		return o, errors.Join(errors.New("NFC max command data length missing"), err)
	}
	if ok, err := r.option(1, &o.MaxResponseDataLength); err != nil || !ok {
		return o, errors.Join(errors.New("NFC max response data length missing"), err)
	}
	return o, nil
}

// WiFiAware returns the Wi-Fi Aware options.
func (r *RetrievalMethod) WiFiAware() (WiFiAwareOptions, error) {
	var o WiFiAwareOptions
	if r.Type != RetrievalWiFiAware {
		return o, errors.New("not a Wi-Fi Aware retrieval method")
	}
	var oc, ch uint64
	if _, err := r.option(0, &o.Passphrase); err != nil {
		return o, err
	}
	if ok, err := r.option(1, &oc); err != nil {
		return o, err
	} else if ok {
		o.OperatingClass = &oc
	}
	if ok, err := r.option(2, &ch); err != nil {
		return o, err
	} else if ok {
		o.ChannelNumber = &ch
	}
	if _, err := r.option(3, &o.SupportedBands); err != nil {
		return o, err
	}
	return o, nil
}

// HTTP returns the HTTP options.
func (r *RetrievalMethod) HTTP() (HTTPOptions, error) {
	var o HTTPOptions
	if r.Type != RetrievalHTTP {
		return o, errors.New("not an HTTP retrieval method")
	}
	if ok, err := r.option(0, &o.URI); err != nil || !ok || o.URI == "" {
		return o, errors.Join(errors.New("HTTP retrieval method without a URI"), err)
	}
	return o, nil
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

// OriginInfo categories and types.
const (
	OriginCatDelivery = 0
	OriginCatReceive  = 1
	OriginTypeWebsite = 1
)

// OriginInfo tells how an engagement was delivered or received. Implementations disagree
// on its spelling; decoding accepts "details" and "Details", and Domain() looks for
// "domain", "baseUrl" and "ReferrerUrl". Encoding writes {"cat", "type", "details": {"domain"}}.
type OriginInfo struct {
	Cat     uint64
	Type    uint64
	Details Map[string, cbor.RawMessage]
	// DetailsKey is the spelling received ("details" or "Details").
	DetailsKey string
}

// NewWebsiteOriginInfo builds a website OriginInfo with the Multipaz spelling.
func NewWebsiteOriginInfo(cat uint64, domain string) OriginInfo {
	var d Map[string, cbor.RawMessage]
	d.Set("domain", mustMarshal(domain))
	return OriginInfo{Cat: cat, Type: OriginTypeWebsite, Details: d, DetailsKey: "details"}
}

// Domain returns the website origin in whichever spelling was used.
func (o *OriginInfo) Domain() (string, bool) {
	for _, k := range []string{"domain", "baseUrl", "ReferrerUrl", "referrerUrl", "baseURL"} {
		if raw, ok := o.Details.Get(k); ok {
			var s string
			if decMode.Unmarshal(raw, &s) == nil {
				return s, true
			}
		}
	}
	return "", false
}

// MarshalCBOR writes {"cat", "type", "details"}.
func (o OriginInfo) MarshalCBOR() ([]byte, error) { return o.appendCBOR(nil) }

func (o OriginInfo) appendCBOR(dst []byte) ([]byte, error) {
	var m Map[string, any]
	m.Set("cat", o.Cat)
	m.Set("type", o.Type)
	key := o.DetailsKey
	if key == "" {
		key = "details"
	}
	m.Set(key, o.Details)
	return m.appendCBOR(dst)
}

// UnmarshalCBOR reads an OriginInfo in any of the spellings seen.
func (o *OriginInfo) UnmarshalCBOR(data []byte) error {
	return unmarshalOwn(o, data)
}

func (o *OriginInfo) topMap() bool { return true }

func (o *OriginInfo) decode(data []byte, t trust) error {
	var f fieldMap[string]
	if err := f.init("OriginInfo", data, t); err != nil {
		return err
	}
	f.uint("cat", &o.Cat, true)
	f.uint("type", &o.Type, true)
	for _, k := range []string{"details", "Details"} {
		if f.own(k, &o.Details, false) {
			o.DetailsKey = k
			break
		}
	}
	return f.err
}

// Capability keys (2nd edition / 23220-4).
const (
	CapMacKeysSupport                      = 0
	CapMacKeyCurves                        = 1
	CapHandoverSessionEstablishmentSupport = 2
	CapReaderAuthAllSupport                = 3
	CapExtendedRequestSupport              = 4
)

// Capabilities is key 6 of an engagement: an integer-keyed map, kept as received.
type Capabilities struct {
	Map[int64, cbor.RawMessage]
}

// Bool returns a boolean capability; absent or not a bool reads as false.
func (c *Capabilities) Bool(key int64) bool {
	if c == nil {
		return false
	}
	raw, ok := c.Get(key)
	if !ok {
		return false
	}
	var b bool
	return decMode.Unmarshal(raw, &b) == nil && b
}

// SetBool sets a boolean capability.
func (c *Capabilities) SetBool(key int64, v bool) { c.Set(key, mustMarshal(v)) }
