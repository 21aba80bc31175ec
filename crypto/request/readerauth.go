package request

import (
	"errors"
	"fmt"
	"io"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/messages"
)

// ReaderKey is a reader-authentication private key with the certificate chain that goes
// into readerAuth's x5chain.
type ReaderKey struct {
	Key *keys.PrivateKey
	// Chain holds DER certificates, leaf (the certificate of Key) first.
	Chain [][]byte
}

// SignReaderAuth is the package function SignReaderAuth with r's key and chain.
func (r *ReaderKey) SignReaderAuth(transcript messages.SessionTranscript, itemsRequest messages.EncodedCBOR) (*messages.CoseSign1, error) {
	return SignReaderAuth(r.Key, r.Chain, transcript, itemsRequest, nil)
}

// SignReaderAuth makes the readerAuth of a DocRequest: a detached, untagged COSE_Sign1
// with protected {1: alg} (keys.DefaultAlg of priv's curve) and unprotected {33: chain}
// (one certificate as a bstr, more as an array, leaf first), signed over
// ReaderAuthenticationBytes = #6.24(["ReaderAuthentication", transcript, itemsRequest]).
// itemsRequest must be the exact ItemsRequestBytes put in the DocRequest. rand nil means
// crypto/rand.
func SignReaderAuth(priv *keys.PrivateKey, chain [][]byte, transcript messages.SessionTranscript, itemsRequest messages.EncodedCBOR, rand io.Reader) (*messages.CoseSign1, error) {
	if len(chain) == 0 {
		return nil, errors.New("request: readerAuth: empty certificate chain")
	}
	ra, err := messages.ReaderAuthenticationBytes(transcript, itemsRequest)
	if err != nil {
		return nil, fmt.Errorf("request: readerAuth: ReaderAuthenticationBytes: %w", err)
	}
	s, err := keys.SignSign1(priv, keys.DefaultAlg(priv.Curve()), rand, messages.EncodeX5ChainHeader(chain), ra.Raw(), true)
	if err != nil {
		return nil, fmt.Errorf("request: readerAuth: %w", err)
	}
	return s, nil
}

// SignReaderAuthAll makes one readerAuthAll entry (18013-5 2nd edition): like
// SignReaderAuth but over ReaderAuthenticationAllBytes with every ItemsRequestBytes of the
// request in docRequests order and the DeviceRequestInfoBytes (nil for null).
func SignReaderAuthAll(priv *keys.PrivateKey, chain [][]byte, transcript messages.SessionTranscript, items []messages.EncodedCBOR, info *messages.EncodedCBOR, rand io.Reader) (*messages.CoseSign1, error) {
	if len(chain) == 0 {
		return nil, errors.New("request: readerAuthAll: empty certificate chain")
	}
	ra, err := messages.ReaderAuthenticationAllBytes(transcript, items, info)
	if err != nil {
		return nil, fmt.Errorf("request: readerAuthAll: ReaderAuthenticationAllBytes: %w", err)
	}
	s, err := keys.SignSign1(priv, keys.DefaultAlg(priv.Curve()), rand, messages.EncodeX5ChainHeader(chain), ra.Raw(), true)
	if err != nil {
		return nil, fmt.Errorf("request: readerAuthAll: %w", err)
	}
	return s, nil
}
