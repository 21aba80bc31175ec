package request_test

import (
	"testing"

	"github.com/mdocgate/mdocgate/crypto/profile"
	"github.com/mdocgate/mdocgate/crypto/request"
	"github.com/mdocgate/mdocgate/messages"
)

// The response limit follows what is requested: an mDL with a portrait needs far less
// than the decoders' 4 MiB, one flag less still.
func TestMaxResponseSize(t *testing.T) {
	mdl := profile.Builtin("mdl")
	if err := mdl.Compile(); err != nil {
		t.Fatal(err)
	}
	withPortrait := request.MaxResponseSize(mdl.Request())
	if withPortrait != 178176 {
		t.Fatalf("mdl (portrait and ten elements): %d bytes", withPortrait)
	}
	flag := request.MaxResponseSize([]request.Doc{{DocType: "org.iso.18013.5.1.mDL", NameSpaces: []request.NameSpace{
		{Name: "org.iso.18013.5.1", Elements: []string{"age_over_18"}}}}})
	if flag != 4096+32768+1024 {
		t.Fatalf("age_over_18 alone: %d bytes", flag)
	}
	if request.MaxResponseSize(nil) >= flag || withPortrait >= messages.MaxMessageSize {
		t.Fatal("the limit does not follow the request")
	}
	var many []request.Doc
	for i := 0; i < 40; i++ {
		many = append(many, mdl.Request()...)
	}
	if request.MaxResponseSize(many) != messages.MaxMessageSize {
		t.Fatal("never above the decoders' limit")
	}
}
