package issuer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/messages"
)

// File names used by WriteDir and LoadDir.
const (
	FileIACA       = "iaca.pem"        // IACA certificate (the reader's trust anchor)
	FileDS         = "ds.pem"          // Document Signer certificate
	FileDeviceKey  = "device_key.pem"  // device private key, PKCS#8 PEM, mode 0600
	FileCredential = "credential.cbor" // MarshalFile output
)

// MaxCredentialFileSize bounds ParseCredentialFile's input (messages.MaxMessageSize).
const MaxCredentialFileSize = messages.MaxMessageSize

// credentialFile is the CBOR map {"docType", "issuerSigned", "deviceKey"}.
type credentialFile struct {
	DocType      string                `cbor:"docType"`
	IssuerSigned messages.IssuerSigned `cbor:"issuerSigned"`
	DeviceKey    messages.COSEKey      `cbor:"deviceKey"`
}

// MarshalFile encodes the credential as the CBOR map
// {"docType": tstr, "issuerSigned": IssuerSigned, "deviceKey": COSE_Key} with the public
// device key only. IssuerSignedItemBytes and issuerAuth are written exactly as issued.
func (c *Credential) MarshalFile() ([]byte, error) {
	if c.DeviceKey == nil {
		return nil, errors.New("issuer: credential file: no device key")
	}
	var m messages.Map[string, any]
	m.Set("docType", c.DocType)
	m.Set("issuerSigned", c.IssuerSigned)
	m.Set("deviceKey", c.DeviceKey.Public())
	b, err := messages.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("issuer: credential file: %w", err)
	}
	return b, nil
}

// ParseCredentialFile decodes MarshalFile output. It checks that the file is consistent
// (docType and deviceKey equal to those in the MSO) but verifies no signature.
func ParseCredentialFile(data []byte) (*Credential, error) {
	if len(data) > MaxCredentialFileSize {
		return nil, messages.ErrTooLarge
	}
	var f credentialFile
	if err := messages.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("issuer: credential file: %w", err)
	}
	c := &Credential{DocType: f.DocType, IssuerSigned: f.IssuerSigned, DeviceKey: &f.DeviceKey}
	mso, err := c.MSO()
	if err != nil {
		return nil, fmt.Errorf("issuer: credential file: %w", err)
	}
	if f.DocType == "" || mso.DocType != f.DocType {
		return nil, fmt.Errorf("issuer: credential file: docType %q does not match the MSO's %q", f.DocType, mso.DocType)
	}
	if !mso.DeviceKeyInfo.DeviceKey.Equal(&f.DeviceKey) {
		return nil, errors.New("issuer: credential file: deviceKey does not match the MSO's")
	}
	return c, nil
}

// WriteDir writes FileIACA and FileDS (certificates only; skipped when iaca or ds is nil),
// FileDeviceKey (deviceKey, or cred.DevicePrivateKey when deviceKey is nil) and
// FileCredential into dir, creating it. The device key must match cred.DeviceKey.
func WriteDir(dir string, iaca *Authority, ds *Signer, cred *Credential, deviceKey *keys.PrivateKey) error {
	if cred == nil {
		return errors.New("issuer: write dir: no credential")
	}
	if deviceKey == nil {
		deviceKey = cred.DevicePrivateKey
	}
	if deviceKey == nil {
		return errors.New("issuer: write dir: no device private key")
	}
	if cred.DeviceKey == nil || !deviceKey.COSEKey().Equal(cred.DeviceKey) {
		return errors.New("issuer: write dir: the device private key does not match the credential's device key")
	}
	keyPEM, err := keys.MarshalPrivateKeyPEM(deviceKey)
	if err != nil {
		return fmt.Errorf("issuer: write dir: device key: %w", err)
	}
	credBytes, err := cred.MarshalFile()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("issuer: write dir: %w", err)
	}
	type file struct {
		name string
		data []byte
		mode os.FileMode
	}
	files := []file{{FileDeviceKey, keyPEM, 0o600}, {FileCredential, credBytes, 0o644}}
	if iaca != nil {
		files = append(files, file{FileIACA, iaca.CertificatePEM(), 0o644})
	}
	if ds != nil {
		files = append(files, file{FileDS, ds.CertificatePEM(), 0o644})
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, f.mode); err != nil {
			return fmt.Errorf("issuer: write dir: %w", err)
		}
	}
	return nil
}

// LoadDir reads FileCredential and FileDeviceKey from dir (as written by WriteDir) and
// checks that the key matches the credential's device key. The returned credential has
// DevicePrivateKey set to the returned key.
func LoadDir(dir string) (cred *Credential, deviceKey *keys.PrivateKey, err error) {
	credBytes, err := messages.ReadFileLimited(filepath.Join(dir, FileCredential), MaxCredentialFileSize)
	if err != nil {
		return nil, nil, fmt.Errorf("issuer: load dir: %w", err)
	}
	if cred, err = ParseCredentialFile(credBytes); err != nil {
		return nil, nil, err
	}
	keyBytes, err := messages.ReadFileLimited(filepath.Join(dir, FileDeviceKey), keys.MaxKeyFileSize)
	if err != nil {
		return nil, nil, fmt.Errorf("issuer: load dir: %w", err)
	}
	if deviceKey, err = keys.ParsePrivateKey(keyBytes); err != nil {
		return nil, nil, fmt.Errorf("issuer: load dir: %s: %w", FileDeviceKey, err)
	}
	if !deviceKey.COSEKey().Equal(cred.DeviceKey) {
		return nil, nil, fmt.Errorf("issuer: load dir: %s does not match the credential's device key", FileDeviceKey)
	}
	cred.DevicePrivateKey = deviceKey
	return cred, deviceKey, nil
}
