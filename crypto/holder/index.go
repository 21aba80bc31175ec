package holder

import (
	"errors"
	"fmt"
	"sync"

	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/messages"
)

// Index remembers what a wallet works out once per credential, when it is provisioned,
// rather than on every presentation: that the device private key matches the MSO's
// deviceKey, and the element identifier of every issued item. Presenters sharing an
// Index (many simulated holders presenting the same credentials) then select items
// without decoding the MSO or the items again.
//
// Entries are keyed by the credential's pointer: a credential must not be modified
// after it was first presented through an Index.
type Index struct {
	mu      sync.Mutex
	entries map[*issuer.Credential]*indexed
}

// indexed is one credential's prepared form.
type indexed struct {
	// ids[ns][i] is the elementIdentifier of IssuerSigned.NameSpaces[ns][i].
	ids map[string][]string
	// bad[ns] is why an item of name space ns could not be read; presenting from ns fails.
	bad map[string]error
}

// maxIndexed bounds an Index; past it, credentials are prepared on every presentation.
const maxIndexed = 4096

// NewIndex returns an empty index.
func NewIndex() *Index { return &Index{entries: map[*issuer.Credential]*indexed{}} }

// get returns c's prepared form, preparing it when it is not known yet.
func (x *Index) get(c *issuer.Credential) (*indexed, error) {
	if x == nil {
		return prepare(c)
	}
	x.mu.Lock()
	e, ok := x.entries[c]
	x.mu.Unlock()
	if ok {
		return e, nil
	}
	e, err := prepare(c)
	if err != nil {
		return nil, err
	}
	x.mu.Lock()
	if len(x.entries) < maxIndexed {
		x.entries[c] = e
	}
	x.mu.Unlock()
	return e, nil
}

// prepare checks c's device key against its MSO and reads every item's identifier.
func prepare(c *issuer.Credential) (*indexed, error) {
	if c.DevicePrivateKey == nil {
		return nil, errors.New("no device private key")
	}
	mso, err := c.MSO()
	if err != nil {
		return nil, err
	}
	if !c.DevicePrivateKey.COSEKey().Equal(&mso.DeviceKeyInfo.DeviceKey) {
		return nil, errors.New("the device private key does not match the MSO deviceKey")
	}
	e := &indexed{ids: map[string][]string{}, bad: map[string]error{}}
	for ns, items := range c.IssuerSigned.NameSpaces.All() {
		ids := make([]string, len(items))
		for i, b := range items {
			it, err := messages.DecodeIssuerSignedItem(b)
			if err != nil {
				e.bad[ns] = fmt.Errorf("issued item %s[%d]: %w", ns, i, err)
				break
			}
			ids[i] = it.ElementIdentifier
		}
		e.ids[ns] = ids
	}
	return e, nil
}
