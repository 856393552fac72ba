//go:build !unix

package analysis_test

func cpuSeconds() float64 { return 0 }
