package qr

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/messages"
)

// EngageOptions show a DeviceEngagement offering the given method on the named curve,
// writing the key and a PNG that ReadImageFile reads back as the same engagement; with
// Reverse, a ReaderEngagement offering HTTP with the origin.
func TestEngageOptionsShow(t *testing.T) {
	dir := t.TempDir()
	ble := messages.NewBLEMethod(messages.BLEOptions{CentralClientMode: true, CentralClientUUID: bytes.Repeat([]byte{7}, 16)})
	o := EngageOptions{Level: "q", Terminal: "light", Curve: "P-384", Method: ble,
		KeyOut: filepath.Join(dir, "key.pem"), PNGOut: filepath.Join(dir, "code.png"), PNGSize: 300}
	s, err := o.Show()
	if err != nil {
		t.Fatal(err)
	}
	e, raw, err := ParseDeviceEngagementQR(s.Text)
	if err != nil || s.Code.Level() != LevelQ || len(e.DeviceRetrievalMethods) != 1 || e.DeviceRetrievalMethods[0].Type != messages.RetrievalBLE {
		t.Fatalf("%+v %v", e, err)
	}
	b, err := os.ReadFile(o.KeyOut)
	if err != nil {
		t.Fatal(err)
	}
	if k, err := keys.ParsePrivateKey(b); err != nil || k.Curve() != messages.CurveP384 || !k.COSEKey().Equal(s.Key.COSEKey()) {
		t.Fatalf("key file: %v", err)
	}
	img, err := ReadImageFile(o.PNGOut)
	if err != nil || img.URI != s.Text || img.Scheme != SchemeQR || !strings.Contains(img.Kind, "Engagement") {
		t.Fatalf("PNG read back: %+v %v", img, err)
	}
	kind, tree, _ := messages.Describe(raw)
	want, _ := json.Marshal(map[string]any{"uri": s.Text, "scheme": string(SchemeQR), "kind": kind, "engagement": tree})
	if got, _ := json.Marshal(img); !bytes.Equal(got, want) {
		t.Fatalf("as JSON\n%s\nwant\n%s", got, want)
	}

	o = EngageOptions{Level: "M", Terminal: "dark", Curve: "X25519", Reverse: true, URL: "https://reader.example/mdoc", Origin: "reader.example", Method: ble}
	if s, err = o.Show(); err != nil {
		t.Fatal(err)
	}
	re, _, err := ParseReaderEngagementQR(s.Text)
	if err != nil || re.Version != "1.1" || len(re.OriginInfos) != 1 || len(re.DeviceRetrievalMethods) != 1 || re.DeviceRetrievalMethods[0].Type != messages.RetrievalHTTP {
		t.Fatalf("reverse: %+v %v", re, err)
	}
}

// Each setting that cannot be used is named as the engage command's flag.
func TestEngageOptionsErrors(t *testing.T) {
	good := EngageOptions{Level: "M", Terminal: "dark", Curve: "P-256", Reverse: true, URL: "https://reader.example/"}
	for _, c := range []struct {
		change func(*EngageOptions)
		want   string
	}{
		{func(o *EngageOptions) { o.Level = "Z" }, "--level: "},
		{func(o *EngageOptions) { o.Terminal = "grey" }, `--terminal "grey": want dark or light`},
		{func(o *EngageOptions) { o.Curve = "Ed25519" }, `--curve "Ed25519": not a key agreement curve`},
		{func(o *EngageOptions) { o.Level, o.Curve = "Z", "Ed25519" }, "--level: "},
	} {
		o := good
		c.change(&o)
		if err := o.Check(); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("Check: %v, want %q", err, c.want)
		}
		if _, err := o.Show(); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("Show: %v, want %q", err, c.want)
		}
	}
	if err := good.Check(); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"", "ftp://reader.example/", "https://"} {
		o := good
		o.URL = u
		if _, err := o.Show(); err == nil || !strings.HasPrefix(err.Error(), "--reverse needs --url") {
			t.Errorf("URL %q: %v", u, err)
		}
	}
	o := good
	o.PNGOut = filepath.Join(t.TempDir(), "no", "such", "dir.png")
	if _, err := o.Show(); err == nil {
		t.Error("PNG into a missing folder written")
	}

	dir := t.TempDir()
	notImage := filepath.Join(dir, "x.png")
	os.WriteFile(notImage, []byte("not an image"), 0o644)
	if _, err := ReadImageFile(filepath.Join(dir, "missing.png")); !os.IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := ReadImageFile(notImage); err == nil || !strings.HasPrefix(err.Error(), notImage+": ") {
		t.Errorf("not an image: %v", err)
	}
}
