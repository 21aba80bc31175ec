package ble

import (
	"fmt"

	"github.com/mdocgate/mdocgate/messages"
)

// OfferMethod is the BLE retrieval method a DeviceEngagement offers in mode (Offer)
// with the service UUID written as uuid (ParseUUID; random when empty), as `mdocgate
// engage --qr` takes them; errors name them as its flags do (--ble-uuid, --ble-mode).
func OfferMethod(mode, uuid string) (messages.RetrievalMethod, error) {
	u := NewUUID()
	if uuid != "" {
		var err error
		if u, err = ParseUUID(uuid); err != nil {
			return messages.RetrievalMethod{}, fmt.Errorf("--ble-uuid: %w", err)
		}
	}
	o, err := Offer(mode, u)
	if err != nil {
		return messages.RetrievalMethod{}, fmt.Errorf("--ble-mode: %w", err)
	}
	return messages.NewBLEMethod(o), nil
}
