//go:build !unix

package drain

func cpuSeconds() float64 { return 0 }
