// Package webholder is a simulated holder presenting over the Internet (18013-7 reverse
// engagement, transports/web): it reads the reader's engagement link, runs a holder
// session (actors/holdersession) and talks to the session URL over HTTP or WebSocket
// until the session ends. Tests and `mdocgate loadtest --target` use it; the transport
// itself knows nothing of holder sessions.
package webholder

import (
	"context"
	"errors"
	"net/url"

	"github.com/mdocgate/mdocgate/actors/holdersession"
	"github.com/mdocgate/mdocgate/transports/web"
)

// Present runs a simulated holder through a whole reverse-engagement session: it parses
// link (see web.ParseLink), starts holdersession.NewReverse with cfg and origin (empty:
// the origin of the session URL), dials, and answers the reader until the session ends.
// It returns the holder's error, if the session did not end normally; a reader that
// closes the session (web.ErrSessionEnded) after the holder answered ends it normally.
func Present(ctx context.Context, link string, cfg *holdersession.Config, origin string, opts web.DialOptions) error {
	re, sessionURL, err := web.ParseLink(link)
	if err != nil {
		return err
	}
	if origin == "" {
		u, _ := url.Parse(sessionURL)
		origin = u.Scheme + "://" + u.Host
	}
	h, err := holdersession.NewReverse(cfg, re, origin)
	if err != nil {
		return err
	}
	conn, err := web.Dial(ctx, sessionURL, h.FirstMessage(), opts)
	if err != nil {
		return err
	}
	defer conn.Close()
	answered := false
	for {
		msg, err := conn.ReadFrame(ctx)
		if err != nil {
			if answered && errors.Is(err, web.ErrSessionEnded) {
				return nil // the reader closed instead of sending status 20: the same end
			}
			return err
		}
		st := h.Receive(msg)
		if st.Send != nil {
			if err := conn.WriteFrame(ctx, st.Send); err != nil {
				return err
			}
			answered = true
		}
		if st.Done {
			return st.Err
		}
	}
}
