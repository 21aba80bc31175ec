package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/mdocgate/mdocgate/crypto/issuer"
	"github.com/mdocgate/mdocgate/crypto/verify"
	"github.com/mdocgate/mdocgate/messages"
	"github.com/mdocgate/mdocgate/transports/serverretrieval"
)

func TestIssuerServe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- issuerServe(ctx, []string{"--listen", "127.0.0.1:0"}, pw, io.Discard)
		pw.Close()
	}()
	var info serverretrieval.ReferenceInfo
	line, err := bufio.NewReader(pr).ReadBytes('\n')
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, pr)
	if err := json.Unmarshal(line, &info); err != nil {
		t.Fatal(err)
	}
	anchors, err := verify.ParseCertificates([]byte(info.IACA))
	if err != nil {
		t.Fatal(err)
	}
	c := &serverretrieval.Client{Trust: verify.NewTrustStore(anchors...)}
	sri := &messages.ServerRetrievalInfo{Version: 1, IssuerURL: info.URL, Token: info.Token}
	req := serverretrieval.DocRequest{DocType: issuer.DocTypeMDL, NameSpaces: map[string]map[string]bool{issuer.NamespaceMDL: {"family_name": false}}}
	rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer rcancel()
	res, err := c.WebAPI(rctx, sri, []serverretrieval.DocRequest{req})
	if err != nil || len(res.Documents) != 1 {
		t.Fatalf("WebAPI: %v", err)
	}
	if _, err := c.OIDC(rctx, sri, req); err != nil {
		t.Fatalf("OIDC: %v", err)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("exit %d", code)
	}
	if code, _, _ := runCLI(t, "issuer-serve", "--doctype", "nope"); code != exitUsage {
		t.Fatalf("bad doctype exit %d", code)
	}
}
