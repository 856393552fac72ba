//go:build unix

package drain

import "syscall"

// cpuSeconds is the CPU time this process has used (user + system). The
// benchmarks report MB per CPU-second beside MB/s because the machine they
// run on is shared: wall time measures the neighbours too.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}
