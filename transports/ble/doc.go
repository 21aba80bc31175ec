// Package ble is the ISO 18013-5 / TS 23220-4 BLE bearer: a small GATT-level interface
// (Adapter, Peripheral, Connection, ServerConn, Characteristic, L2CAPChannel), a
// simulated radio implementing it (Sim), an adapter onto tinygo.org/x/bluetooth
// (NewRealAdapter, Linux/BlueZ), and the 18013-5 protocol on top (Open, Conn, Listener,
// EngageHolder).
//
// # What is real and what is simulated
//
// Real: the 18013-5 protocol logic — service and characteristic UUIDs of both modes,
// mode choice (central client mode preferred), Ident = BLEIdent(EDeviceKeyBytes) exposed
// by a central-client reader and checked by the mdoc (mismatch: refuse and disconnect),
// CCCD subscription before State start (0x01), State end (0x02) as transport-specific
// termination, one characteristic value of at most min(MTU−3, 512) bytes per frame,
// L2CAP PSM from engagement key 21 or from the L2CAP characteristic (4-byte big-endian),
// and the 4-byte big-endian length framing of messages on an L2CAP channel.
//
// Simulated: the radio. Sim carries values between SimAdapters in one process with
// bounded queues and ordered delivery, and models timing and faults; it starts no
// goroutines. The tinygo adapter compiles but has not been run on hardware here.
//
// # Air-time model
//
// Every ATT PDU is an L2CAP PDU of 4 (basic header) + 3 (opcode, handle) + value bytes
// (reads: 4+3 request, 4+1+value response; CCCD write 4+3+2 and 4+1 response; MTU
// exchange 2×(4+3)); an L2CAP channel message is the 4-byte length plus the message, cut
// into segments of DataLength−4 bytes, each 4+segment bytes. Such a PDU is cut into LL
// data packets of at most DataLength payload bytes (251 with data length extension).
// A packet of n bytes takes SimConfig.ExchangeTime(n) = PacketTime(n) + 150 µs + the
// peer's empty acknowledgement + 150 µs, with PacketTime(n) = (preamble + 4 + 2 + n + 3)
// × 8 bits at 1 or 2 Mbit/s (preamble 1 byte on 1M, 2 on 2M; unencrypted, no MIC).
// Packets fill connection events back to back, both directions sharing the link; an
// event carries at most PacketsPerEvent packets and ConnInterval of time, and a packet
// that does not fit waits for the next event (the rest of the interval is counted).
// Idle time between bursts (the engine thinking) is not counted, nor are advertising,
// scanning, connection set-up and service discovery. A stalled value adds StallFor.
// The sum is a connection's AirTime and, over all connections, Sim.AirTime. With
// SimConfig.RealTime a value is delivered no earlier than its modelled arrival;
// otherwise at CPU speed.
//
// # Faults
//
// Per connection, from the central's DeviceConfig.Faults (or the peripheral's): a write
// without response or notification is dropped with probability Drop, any value or L2CAP
// segment stalls with probability Stall, and DisconnectAfter breaks the link after that
// many values and segments. Draws come from a PCG generator seeded with Faults.Seed, so
// a given sequence of sends meets the same faults on every run. After a disconnect the
// values already queued are still delivered, then ErrDisconnected.
package ble
