// Package daemon is the gate daemon as a library: what `mdocgate serve` runs. A Config
// (YAML, see examples/gate.yaml, or built in code) names the lanes (web lanes for
// device retrieval over the Internet, NFC, BLE, Wi-Fi Aware and in-memory lanes), the
// trust anchors, revocation checking (token status lists and CRLs: StatusConfig), the
// optional reader-authentication key and profiles file, and where the operations
// endpoints listen. New checks it (every error names its field), reads
// the trust anchors and starts the lanes on a supervisor engine, each lane with its
// profile, holder verification and actuator; Run serves the web lanes, the operations
// endpoints (/metrics, /healthz, /dashboard/ and the operator desk at /operator/),
// refreshes status lists and CRLs in the background, reloads the trust anchors (and the
// revocation files) on SIGHUP and drains the sessions under way on SIGTERM.
package daemon
