//go:build race

package messages

// raceEnabled trims the slowest tests under the race detector.
const raceEnabled = true
