package wifiaware

import "github.com/mdocgate/mdocgate/transports"

// WholeMessage is the framing of the Wi-Fi Aware data path: one HTTP body is one
// message.
type WholeMessage = transports.WholeMessageFramer
