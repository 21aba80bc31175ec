// Package handoff continues an engagement on the data retrieval carrier the mdoc
// offers, other than NFC: BLE in mdoc central client or peripheral server mode (GATT,
// or L2CAP when offered) or Wi-Fi Aware. After an NFC engagement the carrier is the one
// of the Handover Select (FromHandover); after a QR engagement it is one of the
// DeviceEngagement's retrieval methods (FromEngagement). Either way the result is a
// Target, from which both sides open the same connection: the reader's side with
// Reader.Dial (at once, connecting in the background, so that the NFC reader or the
// scanner takes the next phone meanwhile), a simulated holder's with Radio.Holder.
//
// It also writes what 18013-5 asks of the engagement records: the reader's Handover
// Request records (RequestRecords: a BLE record with the reader's central client UUID,
// a Wi-Fi Aware record with its cipher suites) and a simulated mdoc's Handover Select
// record and retrieval method (Offer).
//
// A handed-off session's bearer is named ENGAGEMENT>DATA, e.g. "nfc-pcsc>ble-central"
// (Label), in verdicts, metrics and reports.
//
// Radio is the simulated BLE radio and Wi-Fi Aware network that the lanes and the
// simulated holders of one bearer share; a lane on real hardware gives its Reader a real
// ble.Adapter instead.
package handoff
