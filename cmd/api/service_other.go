//go:build !windows

package main

import "github.com/rca-engine/api/internal/config"

// isService reports whether the process runs under the Windows service
// manager; elsewhere it never does (systemd and containers use signals).
func isService() bool { return false }

func runService(config.Lookup, []string) int { return 1 }
