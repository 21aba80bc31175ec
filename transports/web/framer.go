package web

import "github.com/mdocgate/mdocgate/transports"

// WholeMessage is the framing of HTTP and WebSocket sessions: one body or one
// WebSocket message is one session message.
type WholeMessage = transports.WholeMessageFramer
