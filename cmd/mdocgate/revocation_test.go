package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// startIssuerServe runs issuer-serve with args on a loopback port until the test ends
// and returns what it printed.
func startIssuerServe(t *testing.T, args ...string) issuerServeInfo {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- issuerServe(ctx, append([]string{"--listen", "127.0.0.1:0"}, args...), pw, io.Discard)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != exitOK {
			t.Errorf("issuer-serve exit %d", code)
		}
	})
	line, err := bufio.NewReader(pr).ReadBytes('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	var info issuerServeInfo
	if err := json.Unmarshal(line, &info); err != nil {
		t.Fatal(err)
	}
	return info
}

// check finds a check of the first document in verify's JSON.
func (v verifyJSON) check(name string) (ok, found bool, reason string) {
	for _, c := range v.Documents[0].Checks {
		if c.Name == name {
			if c.Reason != nil {
				reason = *c.Reason
			}
			return c.OK, true, reason
		}
	}
	return false, false, ""
}

// issue → issuer-serve → issue under the same IACA with a status reference → present →
// verify --status online / offline / off, and a revoked DS through --crl: exit 0 valid, 1
// not valid, 2 unreadable input.
func TestRevocationEndToEnd(t *testing.T) {
	ca := t.TempDir()
	if code, _, stderr := runCLI(t, "issue", "--out", ca); code != 0 {
		t.Fatalf("issue: %s", stderr)
	}
	info := startIssuerServe(t, "--ca", ca, "--revoke", "5", "--suspend", "6", "--revoke-cert", filepath.Join(ca, "ds.pem"))
	if !strings.HasSuffix(info.StatusListURI, "/status/1") || !strings.HasSuffix(info.CRLURI, "/crl") {
		t.Fatalf("info %+v", info)
	}
	transcript := vectors + "session_transcript_bytes.hex"
	trust := filepath.Join(ca, "iaca.pem")
	credential := func(idx string) string {
		dir := t.TempDir()
		if code, _, stderr := runCLI(t, "issue", "--ca", ca, "--out", dir, "--status-uri", info.StatusListURI, "--status-index", idx); code != 0 {
			t.Fatalf("issue --status-index %s: %s", idx, stderr)
		}
		resp := filepath.Join(dir, "response.cbor")
		if code, _, stderr := runCLI(t, "present", "--credential", dir, "--transcript", transcript, "--out", resp); code != 0 {
			t.Fatalf("present: %s", stderr)
		}
		return resp
	}
	verifyRun := func(want int, resp string, extra ...string) verifyJSON {
		t.Helper()
		code, out, stderr := runCLI(t, append([]string{"verify", "--response", resp, "--transcript", transcript, "--trust", trust}, extra...)...)
		if code != want {
			t.Fatalf("verify %v: exit %d, want %d: %s %s", extra, code, want, stderr, out)
		}
		var v verifyJSON
		if want != exitUsage {
			if err := json.Unmarshal([]byte(out), &v); err != nil {
				t.Fatal(err)
			}
		}
		return v
	}

	valid, revoked, suspended := credential("0"), credential("5"), credential("6")
	v := verifyRun(0, valid, "--status", "online")
	if ok, found, _ := v.check("mso.status"); !ok || !found {
		t.Fatalf("valid entry: %+v", v.Documents[0].Checks)
	}
	for resp, want := range map[string]string{revoked: "INVALID", suspended: "SUSPENDED"} {
		v = verifyRun(1, resp, "--status", "online")
		if ok, found, reason := v.check("mso.status"); ok || !found || !strings.Contains(reason, want) {
			t.Fatalf("%s entry: %+v", want, v.Documents[0].Checks)
		}
	}
	// off (the default without files): no lookup, the contract of before
	if _, found, _ := verifyRun(0, revoked).check("mso.status"); found {
		t.Fatal("status checked with --status off")
	}

	// offline: the list fetched once into a file, and the CA's CRL
	dir := t.TempDir()
	listFile, crlFile := filepath.Join(dir, "list.cwt"), filepath.Join(dir, "ca.crl")
	download(t, info.StatusListURI, listFile)
	download(t, info.CRLURI, crlFile)
	verifyRun(0, valid, "--status-list", listFile)
	verifyRun(1, revoked, "--status", "offline", "--status-list", listFile)
	v = verifyRun(1, suspended, "--status", "offline")
	if ok, _, reason := v.check("mso.status"); ok || !strings.Contains(reason, "offline") {
		t.Fatalf("offline without the list: %+v", v.Documents[0].Checks)
	}
	// the first credential's DS (the CA directory's) is on the CRL; the others' are not
	caResp := filepath.Join(dir, "ca-response.cbor")
	if code, _, stderr := runCLI(t, "present", "--credential", ca, "--transcript", transcript, "--out", caResp); code != 0 {
		t.Fatal(stderr)
	}
	v = verifyRun(1, caResp, "--crl", crlFile)
	if ok, found, reason := v.check("issuer_auth.revocation"); ok || !found || !strings.Contains(reason, "revoked") {
		t.Fatalf("revoked DS: %+v", v.Documents[0].Checks)
	}
	verifyRun(0, valid, "--crl", crlFile, "--status-list", listFile)

	// unreadable revocation input, or a contradiction, is a usage error
	bad := filepath.Join(dir, "bad.cwt")
	os.WriteFile(bad, []byte("not a token"), 0o644)
	verifyRun(2, valid, "--status-list", bad)
	verifyRun(2, valid, "--crl", bad)
	verifyRun(2, valid, "--status", "off", "--crl", crlFile)
	verifyRun(2, valid, "--status", "sometimes")
	if code, _, _ := runCLI(t, "issue", "--out", t.TempDir(), "--status-index", "3"); code != exitUsage {
		t.Fatalf("--status-index without --status-uri: exit %d", code)
	}
}

func download(t *testing.T, url, file string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", url, resp.Status, err)
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
