//go:build !unix

package policy

// cpuSeconds is unavailable here; the CPU benchmark then reports 0.
func cpuSeconds() float64 { return 0 }
