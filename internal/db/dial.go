package db

import (
	"context"
	"net"
	"syscall"
)

// dialer returns the DialFunc pgx uses for every new connection. It exists
// because pgx ignores libpq's keepalives_* and tcp_user_timeout keywords, and
// Go's keepalive defaults take about 2.5 minutes to notice a dead peer.
func dialer(cfg Config) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := &net.Dialer{
		KeepAliveConfig: net.KeepAliveConfig{
			Enable:   true,
			Idle:     cfg.KeepAliveIdle,
			Interval: cfg.KeepAliveInterval,
			Count:    cfg.KeepAliveCount,
		},
	}
	if cfg.TCPUserTimeout > 0 {
		d.Control = func(network, _ string, c syscall.RawConn) error {
			if network != "tcp" && network != "tcp4" && network != "tcp6" {
				return nil // unix sockets have no TCP options
			}
			return setUserTimeout(c, cfg.TCPUserTimeout)
		}
	}
	return d.DialContext
}
