package oid4vp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/crypto/holder"
	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/verify"
)

func FuzzParseDCQL(f *testing.F) {
	f.Add([]byte(`{"credentials":[{"id":"m","format":"mso_mdoc","meta":{"doctype_value":"d"},"claims":[{"id":"a","path":["n","e"],"intent_to_retain":true}],"claim_sets":[["a"]]}]}`))
	f.Add([]byte(`{"credentials":[{"id":"m","format":"mso_mdoc","meta":{"doctype_value":"d"},"claims":[{"path":["n",null]}]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := ParseDCQL(b)
		if err != nil {
			return
		}
		for i := range q.Credentials {
			_ = q.Credentials[i].RequestedDoc()
		}
	})
}

func FuzzParseVPToken(f *testing.F) {
	f.Add([]byte(`{"q":["oWd2ZXJzaW9uYzEuMA"]}`))
	f.Add([]byte(`{"q":"oA=="}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		tok, err := ParseVPToken(b)
		if err != nil {
			return
		}
		// and through verification: must not panic on any CBOR
		_ = VerifyVPToken(b, MdocQuery("q", "d"), (&Transaction{ClientID: "c", Nonce: "n", ResponseURI: "r"}).Transcript(), verify.Options{})
		_ = tok
	})
}

func FuzzDecryptJWE(f *testing.F) {
	key, err := NewEncryptionKey()
	if err != nil {
		f.Fatal(err)
	}
	good, _ := EncryptJWE([]byte(`{"vp_token":{},"state":"s"}`), &key.Private.PublicKey, EncryptOptions{APU: []byte("u"), APV: []byte("v")})
	f.Add(good)
	f.Add("eyJhbGciOiJFQ0RILUVTIiwiZW5jIjoiQTEyOEdDTSJ9..AAAA.AAAA.AAAA")
	f.Fuzz(func(t *testing.T, s string) {
		pt, err := DecryptJWE(s, key)
		if err == nil {
			_, _ = decodeJWEPayload(pt)
		}
	})
}

func FuzzVerifyX5CJWT(f *testing.F) {
	p := getPKI(f)
	good, _ := SignJWT(p.ident.Key, p.ident.Chain, TypeRequestObject, map[string]any{"client_id": "x509_san_dns:localhost"})
	f.Add(good)
	f.Add("eyJhbGciOiJFUzI1NiJ9.e30.AAAA")
	trust := verify.NewTrustStore(p.root.Certificate)
	w := NewWallet(WalletConfig{Trust: trust, AllowHTTP: true})
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = VerifyX5CJWT(s, trust, time.Now())
		_, _ = w.CheckRequestObject(s, "x509_san_dns:localhost", "")
	})
}

func FuzzParseInvocation(f *testing.F) {
	f.Add("openid4vp://?client_id=" + url.QueryEscape("x509_hash:"+base64.RawURLEncoding.EncodeToString(make([]byte, 32))) + "&request_uri=https%3A%2F%2Fa%2Fb")
	f.Fuzz(func(t *testing.T, s string) {
		inv, err := ParseInvocation(s)
		if err == nil && (inv.ClientID == "" || inv.RequestURI == "") {
			t.Fatal("accepted without client_id or request_uri")
		}
	})
}

// FuzzDCAPIResponse posts arbitrary data as the DC API answer of an org-iso-mdoc and an
// OpenID4VP transaction: nothing panics, nothing that is not a real answer is accepted.
func FuzzDCAPIResponse(f *testing.F) {
	p := getPKI(f)
	v, err := NewVerifier(VerifierConfig{BaseURL: "https://localhost", Identity: p.ident, Trust: verify.NewTrustStore(p.iaca.Certificate),
		MaxTransactions: 1 << 20})
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(`{"response":"gmVkY2FwaaJjZW5jQQRqY2lwaGVyVGV4dEEB"}`))
	f.Add([]byte(`{"vp_token":{"mdl":["oA"]}}`))
	f.Add([]byte(`{"protocol":"org-iso-mdoc","data":{"response":""}}`))
	f.Add([]byte(`{"response":"eyJhbGciOiJFQ0RILUVTIiwiZW5jIjoiQTEyOEdDTSJ9..AAAA.AAAA.AAAA"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, protocol := range []string{ProtocolAnnexC, ProtocolUnsigned} {
			tx, err := v.BeginDCAPI(DCAPIOptions{Protocol: protocol, Origin: "https://a.example",
				RequestOptions: RequestOptions{Query: mdlQuery(), Encrypted: len(data)%2 == 0}})
			if err != nil {
				t.Fatal(err)
			}
			out, err := v.HandleDCAPIResponse(context.Background(), tx.ID, data)
			if err == nil && out.Valid {
				t.Fatalf("%s: accepted %q", protocol, data)
			}
		}
	})
}

// FuzzAnswerDCAPI hands the wallet arbitrary DC API requests.
func FuzzAnswerDCAPI(f *testing.F) {
	p := getPKI(f)
	w := NewWallet(WalletConfig{Holder: &holder.Presenter{Credentials: []*issuer.Credential{p.cred}}, Trust: verify.NewTrustStore(p.root.Certificate)})
	f.Add([]byte(`{"protocol":"openid4vp-v1-unsigned","data":{"response_type":"vp_token","response_mode":"dc_api","nonce":"0123456789abcdefghij","dcql_query":{"credentials":[{"id":"m","format":"mso_mdoc","meta":{"doctype_value":"org.iso.18013.5.1.mDL"}}]}}}`))
	f.Add([]byte(`{"protocol":"org-iso-mdoc","data":{"deviceRequest":"oA","encryptionInfo":"gmVkY2FwaaA"}}`))
	f.Add([]byte(`{"protocol":"openid4vp-v1-signed","data":{"request":"eyJhbGciOiJFUzI1NiJ9.e30.AAAA"}}`))
	f.Fuzz(func(t *testing.T, req []byte) {
		_, _ = w.AnswerDCAPI(req, "https://a.example")
	})
}

// stringList reads what encoding/json reads, faster for plain strings.
func FuzzStringList(f *testing.F) {
	for _, s := range []string{`"abc"`, `["a","b"]`, `[]`, `["a,b"]`, `["a\"b"]`, `"\u0041"`, ` [ "x" , "y" ] `, `[1]`, `{}`, `"a`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) {
			return
		}
		got, ok := stringList(b)
		var one string
		var list []string
		switch {
		case json.Unmarshal(b, &one) == nil:
			list = []string{one}
		case json.Unmarshal(b, &list) == nil:
		default:
			if ok {
				t.Fatalf("%q read as %q", b, got)
			}
			return
		}
		if !ok || !slices.Equal(got, list) {
			t.Fatalf("%q: %q (%v), encoding/json %q", b, got, ok, list)
		}
	})
}
