// Package web is device retrieval over the Internet with end-to-end encryption
// (ISO/IEC 18013-7 Annex A "website", 23220-4 reverse engagement) over HTTP and over
// WebSocket, the reader being an HTTP service.
//
// Per session the Server creates a ReaderEngagement (version "1.1", a fresh EReaderKey,
// one HTTP retrieval method (type 4) naming the session URL, and a website OriginInfo
// with the reader's origin, cat 1 as the reference wallets expect; either cat is read) and hands it out as an "mdoc://" deep link, a QR code, or a
// universal-link style "https://host/engage?re=..." URL (GET /engage returns all three as
// JSON). The holder then talks to the session URL:
//
//   - HTTP: it POSTs application/cbor messages, first MessageData
//     {"deviceEngagementBytes": ...}, then SessionData; each response body is the reader's
//     next message (SessionEstablishment, then SessionData). DELETE ends the session.
//   - WebSocket: it opens the session URL with a WebSocket handshake (ws/wss for
//     http/https) and sends the same messages, one binary WebSocket message per session
//     message; the reader answers the same way.
//
// The SessionTranscript's Handover is ReaderEngagementBytes; the reader's ephemeral key
// travels with the arrival (transports.Arrival.ReaderKey), so the engine's session for
// that engagement, and only it, uses the key.
//
// Both bearers are transports.Listener ("http" and "websocket") whose arrivals carry
// transports.Conn values with one frame per message: use WholeMessage as the framer.
// Every arrival carries the engagement's id (transports.Arrival.ID): one id from GET
// /engage to the verdict. A first message whose OriginInfo names another origin (or
// none, with RequireOrigin) ends the engagement: the holder gets 403 (close 1008) and
// the lane a refused arrival, so the attempt has its verdict.
//
// # HTTP status codes
//
//	200  the reader's next message (application/cbor)
//	303  GET /engage?re=...: redirect to the mdoc:// deep link
//	400  malformed request: empty body, malformed MessageData or DeviceEngagement
//	403  the DeviceEngagement's OriginInfo names another origin than the reader's (the
//	     engagement ends with a rejection verdict)
//	404  unknown or expired session (Config.OnRefused hears of it)
//	405  wrong method (Allow lists the right ones)
//	408  the body did not arrive within Config.BodyTimeout
//	409  the session is engaged over WebSocket, or a request of the same session is
//	     still being answered
//	410  the session ended while the request waited (the reader closed it without a
//	     further message); requests for a session that is over get 404
//	413  body larger than the HTTP lane's message limit (Config.HTTPMaxMessage, at most
//	     messages.MaxMessageSize); refused by its Content-Length before it is read, and
//	     the session it belongs to ends
//	415  Content-Type is not application/cbor
//	503  reader busy or shutting down (Retry-After is set): the lane is full
//	     (Config.Busy), or the client holds or asks for more than its share of
//	     engagements, sessions or QR images (Config.EngagementsPerClient,
//	     EngagementsPerSecond, SessionsPerClient, QRPerSecond); answered
//	     before any key is made or exchanged
//	504  the reader gave no answer within Config.ResponseTimeout; the session is ended
//
// A MessageData posted again to an engaged HTTP session is answered with the reader's
// answer to the first one when it is the same message and the holder has not gone on
// (a retry whose answer was lost); any other MessageData gets a status 20 SessionData
// and ends the session.
//
// # WebSocket close codes
//
// The reader closes a session's WebSocket with a code derived from the last SessionData
// status it sent:
//
//	1000 normal closure     after status 20 (session termination)
//	1008 policy violation   after status 10 (session encryption error); also for a
//	                        malformed first message or an OriginInfo mismatch
//	1003 unsupported data   after status 11 (CBOR decoding error); also for text messages
//	1009 message too big    a message over the WebSocket lane's message limit
//	                        (Config.WebSocketMaxMessage)
//	1013 try again later    reader busy after the upgrade (before it, busy is a 503)
//	1001 going away         closed without a terminating status (timeout, shutdown,
//	                        missed keepalive)
//
// When the holder's own status-only SessionData (10, 11 or 20) ended the session, the
// reader closes with that status's code instead of 1001, its reason naming the status.
//
// A holder closing with 1000 or 1001 ends the session as "link closed"; any other close
// or a broken connection too, with the code in the error. The reader pings every
// Config.PingInterval and drops a connection whose pong does not come back within
// Config.PongTimeout.
package web
