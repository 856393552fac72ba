package db

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Dial opens a connection of its own, outside the pool, with the pool's
// settings (dialer, server settings, timeouts), for a session that must
// stay open, such as a LISTEN, which the pool would recycle. onNotify (may
// be nil) receives the session's notifications. The caller closes it.
func (d *DB) Dial(ctx context.Context, onNotify pgconn.NotificationHandler) (*pgx.Conn, error) {
	cc := d.pool.Config().ConnConfig.Copy()
	cc.OnNotification = onNotify
	return pgx.ConnectConfig(ctx, cc)
}
