package keys

import (
	"sync"
	"testing"

	"github.com/mdocgate/mdocgate/messages"
)

// A NIST key derives its ECDSA form on first use; concurrent users (a credential's device
// key shared by simulated holders) must not race on it.
func TestLazyECDSAFormIsSafeForConcurrentUse(t *testing.T) {
	for _, curve := range []int64{messages.CurveP256, messages.CurveP384, messages.CurveP521} {
		k, err := Generate(curve, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := k.COSEKey()
		var wg sync.WaitGroup
		for i := 0; i < 8; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if got := k.COSEKey(); !got.Equal(want) {
					t.Error("COSEKey changed")
				}
				sig, err := Sign(k, DefaultAlg(curve), nil, []byte("m"))
				if err != nil {
					t.Error(err)
					return
				}
				if err := Verify(k.Public(), DefaultAlg(curve), []byte("m"), sig); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		// the ECDSA form's public key is the ECDH form's
		pub, err := COSEKeyFromPublic(k.Public())
		if err != nil || !pub.Equal(want) {
			t.Fatalf("ECDSA public key differs from the ECDH one: %v", err)
		}
	}
}
