//go:build race

package api

// raceEnabled: the race detector slows the heaviest tests tenfold.
const raceEnabled = true
