// Package wifiaware is the Wi-Fi Aware (NAN) bearer of ISO/IEC 18013-5 and TS 23220-4
// device retrieval, as Multipaz implements it: the mdoc publishes, the reader subscribes,
// and session messages travel over HTTP/1.1 on a TCP connection across the NAN data path.
//
// # Discovery (simulated)
//
// The service name is the lowercase hex of HKDF-SHA-256(EDeviceKeyBytes, "NANService", 16)
// and the data path passphrase is the engagement's Wi-Fi Aware option 0 or, when absent,
// base64url of HKDF-SHA-256(EDeviceKeyBytes, "NANPassphrase", 32) (ParamsFromEngagement).
// Cluster simulates the NAN radio in process: publish and subscribe sessions match on the
// 48-bit Service ID (SHA-256 of the name); frames (publish, follow-up, NDP request and
// response) are encoded to bytes and parsed on receipt (ParseFrame); every session has a
// bounded inbox (a directed frame to a full inbox fails with ErrNANQueueFull); frames are
// lost with a seeded probability (NANConfig.Drop). The data path's security is modelled
// on NCS-SK: both sides derive a PMK from the passphrase with PBKDF2-HMAC-SHA-256 (4096
// iterations, salted with the cipher suite and Service ID) and prove it with HMACs over
// fresh nonces, so a wrong passphrase is refused (ErrPassphrase) on both sides. Not
// modelled: air time, channels and bands (the engagement's options are carried, not
// used), discovery windows, clustering and radio latency, IPv6 link-local addressing
// (the data path address is loopback).
//
// The sequence follows Multipaz: the holder publishes (Network.Engage) and hands its
// engagement to a lane in process (a QR code in reality); a lane worker subscribes,
// discovers the publisher and sends "helloPub"; the holder opens its TCP server socket,
// offers the data path with its passphrase and the port, and answers "helloSub"; the
// reader requests the data path with the passphrase it derived and learns the address.
//
// # Data path (real)
//
// The data path is a real TCP connection over IPv6 loopback ([::1], ephemeral port),
// falling back to 127.0.0.1 (logged once) when IPv6 loopback is unavailable. The holder
// runs a net/http server accepting exactly one connection; the reader is a small
// hand-rolled HTTP/1.1 client on one keep-alive connection (net/http's client reports a
// request written before it is flushed, which loses a last message sent just before a
// close).
// Each message the reader sends is one "POST /mdoc" with Content-Type application/cbor;
// the response body is the holder's next message (200, same content type) or empty (204,
// with Connection: close when the holder has ended the session). Wrong paths get 404,
// other methods 405, other content types 415, bodies over messages.MaxMessageSize 413,
// empty bodies 400, a second concurrent POST 409. Header reading, each body (in either
// direction) and the shutdown are bounded by Config.IOTimeout, the wait for the holder's
// answer by Config.ResponseTimeout.
//
// Both sides are transports.Conn with MaxFrameSize messages.MaxMessageSize and are used
// with the WholeMessage framer (one frame = one message). The reader's WriteFrame returns
// once the POST is written; its answer is the reader's next ReadFrame. The holder's
// ReadFrame returns a POSTed body; its WriteFrame answers that POST (it blocks until a
// POST waits for an answer), so there is exactly one message per POST and per answer.
//
// # Closing
//
// Closing the reader aborts its POST, closes the TCP connection and terminates the data
// path; the holder's calls then return an error matching transports.ErrClosed, after it
// has read any message already delivered. Closing the holder lets an answer already given
// go out, answers a waiting POST with 204, shuts the server down and terminates the data
// path; the reader reads any answer in flight and then gets transports.ErrClosed.
// Arrival.Reject sends "busy" over NAN; the holder's calls then return transports.ErrBusy.
//
// # Faults
//
// Faults (Network.Engage) act on the holder's end of the real TCP connection: Drop resets
// the connection part-way through a message body with a seeded probability,
// DisconnectAfterFrames resets it after that many frames (a send or receive of n bytes
// is ceil(n/FrameBytes) frames, FrameBytes being the IPv6 MSS of a 1500-byte MTU).
package wifiaware
