//go:build !linux

package db

import (
	"syscall"
	"time"
)

// setUserTimeout is a no-op where TCP_USER_TIMEOUT does not exist; keepalive
// and the per-call deadlines still bound every call.
func setUserTimeout(syscall.RawConn, time.Duration) error { return nil }
