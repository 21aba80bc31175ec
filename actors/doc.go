// Package actors holds the actor kinds of the engine, each owning its state and sharing
// none (github.com/asynkron/protoactor-go):
//
//   - link: one per bearer connection; turns frames into whole session messages and back.
//   - session: one per engagement; drives readersession.Session, owns its timers.
//   - crypto pool: workers that run verification jobs, sized to the CPUs.
//   - lane: one per gate lane; owns a listener, admits or refuses arrivals, spawns sessions,
//     publishes verdicts.
//   - holder: a simulated mdoc driving a HolderSession (holdersession.Session) over a link.
//
// A panic in any actor is contained: the session it belonged to ends with an error
// verdict, and the failure is counted. Nothing blocks inside Receive: bearer I/O runs in
// goroutines owned by the link, CPU-heavy verification runs on the crypto workers.
package actors
