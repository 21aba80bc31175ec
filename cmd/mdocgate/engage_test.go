package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mdocgate/mdocgate/crypto/keys"
	"github.com/mdocgate/mdocgate/internal/testvectors"
	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports/qr"
)

type engageJSON struct {
	URI        string         `json:"uri"`
	Scheme     string         `json:"scheme"`
	Kind       string         `json:"kind"`
	Engagement map[string]any `json:"engagement"`
}

func readEngagePNG(t *testing.T, path string) engageJSON {
	t.Helper()
	code, stdout, stderr := runCLI(t, "engage", "--read", path)
	if code != exitOK {
		t.Fatalf("engage --read: exit %d: %s", code, stderr)
	}
	var out engageJSON
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, stdout)
	}
	return out
}

func TestEngageQRRoundTrip(t *testing.T) {
	dir := t.TempDir()
	pngPath := filepath.Join(dir, "de.png")
	keyPath := filepath.Join(dir, "edevice.pem")
	code, stdout, stderr := runCLI(t, "engage", "--qr", "--png", pngPath, "--key-out", keyPath,
		"--ble-uuid", "45efef74-2b2c-4837-a9a3-b0e1d05a6917", "--ble-mode", "both")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	uri, rendering, _ := strings.Cut(stdout, "\n")
	if !strings.HasPrefix(uri, "mdoc:") || !strings.Contains(rendering, "█") {
		t.Fatalf("output %q", stdout)
	}
	e, raw, err := qr.ParseDeviceEngagementQR(uri)
	if err != nil {
		t.Fatal(err)
	}
	ble, err := e.DeviceRetrievalMethods[0].BLE()
	if err != nil || !ble.CentralClientMode || !ble.PeripheralServerMode ||
		base64.StdEncoding.EncodeToString(ble.CentralClientUUID) != "Re/vdCssSDepo7Dh0FppFw==" {
		t.Fatalf("BLE options %+v, %v", ble, err)
	}

	// The key written is the engagement's private key.
	pemBytes, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	k, err := keys.ParsePrivateKey(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := e.Security.Key()
	if err != nil || !bytes.Equal(pub.X, k.COSEKey().X) || !bytes.Equal(pub.Y, k.COSEKey().Y) {
		t.Fatalf("--key-out key does not match the engagement: %v", err)
	}

	got := readEngagePNG(t, pngPath)
	if got.URI != uri || got.Scheme != "mdoc:" || got.Kind != messages.KindEngagement || got.Engagement["0"] != "1.0" {
		t.Fatalf("read %+v", got)
	}
	if _, rawRead, err := qr.ParseDeviceEngagementQR(got.URI); err != nil || !bytes.Equal(rawRead, raw) {
		t.Fatalf("bytes read differ: %v", err)
	}

	// A fresh run draws a fresh key and UUID.
	_, stdout2, _ := runCLI(t, "engage", "--qr")
	if uri2, _, _ := strings.Cut(stdout2, "\n"); uri2 == uri || !strings.HasPrefix(uri2, "mdoc:") {
		t.Fatalf("second URI %q", uri2)
	}
}

func TestEngageReverse(t *testing.T) {
	dir := t.TempDir()
	pngPath := filepath.Join(dir, "re.png")
	code, stdout, stderr := runCLI(t, "engage", "--qr", "--reverse", "--url", "https://reader.example/mdoc",
		"--origin", "https://reader.example", "--curve", "P-384", "--png", pngPath, "--terminal", "light", "--level", "Q")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	uri, rendering, _ := strings.Cut(stdout, "\n")
	if !strings.HasPrefix(rendering, "    ") { // light terminal: the quiet zone is blank
		t.Fatalf("rendering %q", rendering)
	}
	re, _, err := qr.ParseReaderEngagementQR(uri)
	if err != nil {
		t.Fatal(err)
	}
	h, err := re.DeviceRetrievalMethods[0].HTTP()
	if re.Version != "1.1" || len(re.OriginInfos) != 1 || err != nil || h.URI != "https://reader.example/mdoc" {
		t.Fatalf("reader engagement %+v (%v)", re, err)
	}
	if k, err := re.Security.Key(); err != nil || k.Crv != messages.CurveP384 {
		t.Fatalf("EReaderKey %+v, %v", k, err)
	}
	got := readEngagePNG(t, pngPath)
	if got.URI != uri || got.Engagement["0"] != "1.1" || got.Engagement["5"] == nil {
		t.Fatalf("read %+v", got)
	}
}

func TestEngageReadAnnexD(t *testing.T) {
	uri := testvectors.AnnexDText(t, "device_engagement_qr_uri.txt")
	pngBytes, err := qr.PNG(uri, 0)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "annexd.png")
	if err := os.WriteFile(path, pngBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	got := readEngagePNG(t, path)
	if got.URI != uri || got.Kind != messages.KindEngagement {
		t.Fatalf("read %+v", got)
	}
	methods, _ := got.Engagement["2"].([]any)
	if len(methods) != 1 {
		t.Fatalf("engagement %v", got.Engagement)
	}
	opts := methods[0].([]any)[2].(map[string]any)
	de := testvectors.AnnexD(t, "device_engagement_qr")
	if opts["11"] != base64.StdEncoding.EncodeToString(de[len(de)-16:]) {
		t.Fatalf("BLE options %v", opts)
	}
}

func TestEngageErrors(t *testing.T) {
	dir := t.TempDir()
	notImage := filepath.Join(dir, "x.png")
	os.WriteFile(notImage, []byte("not an image"), 0o644)
	textPNG := filepath.Join(dir, "text.png")
	b, err := qr.PNG("https://example.org/", 0)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(textPNG, b, 0o644)

	for _, args := range [][]string{
		{"engage", "--read", filepath.Join(dir, "missing.png")},
		{"engage", "--read", notImage},
		{"engage", "--read", textPNG},
		{"engage"},
		{"engage", "--qr", "--read", textPNG},
		{"engage", "--read", textPNG, "--png", "x"},
		{"engage", "--qr", "--curve", "Ed25519"},
		{"engage", "--qr", "--ble-uuid", "1234"},
		{"engage", "--qr", "--ble-mode", "sideways"},
		{"engage", "--qr", "--reverse"},
		{"engage", "--qr", "--reverse", "--url", "ftp://x"},
		{"engage", "--qr", "--reverse", "--url", "https://x", "--ble-mode", "central"},
		{"engage", "--qr", "--url", "https://x"},
		{"engage", "--qr", "--level", "Z"},
		{"engage", "--qr", "--bogus"},
	} {
		code, stdout, stderr := runCLI(t, args...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want 2 (stdout %q)", args, code, stdout)
		}
		if strings.HasPrefix(stderr, "mdocgate engage:") && strings.Count(stderr, "\n") != 1 {
			t.Errorf("%v: error is not one line: %q", args, stderr)
		}
	}
	if code, _, stderr := runCLI(t, "engage", "--read", notImage); !strings.HasPrefix(stderr, "mdocgate engage: ") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	if code, _, _ := runCLI(t, "engage", "-h"); code != exitOK {
		t.Errorf("-h: exit %d", code)
	}
}
