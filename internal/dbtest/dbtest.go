// Package dbtest gives a test a started *db.DB on a migrated database of
// its own (pgtest makes the database; this package is separate so that
// pgtest stays importable from package db's own tests).
package dbtest

import (
	"context"
	"testing"
	"time"

	"github.com/rca-engine/api/internal/db"
	"github.com/rca-engine/api/internal/dependency"
	"github.com/rca-engine/api/internal/pgtest"
	"github.com/rca-engine/api/migrations"
)

// New returns a started DB on a new, migrated database, closed and dropped
// when t ends, and the database's URL for direct checks.
func New(t testing.TB) (*db.DB, string) {
	t.Helper()
	url, _ := pgtest.NewDatabase(t)
	d, err := db.New(db.Config{URL: url, Migrations: migrations.FS, CheckInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	d.Start(context.Background())
	t.Cleanup(d.Close)
	pgtest.Eventually(t, 10*time.Second, "database up", func() bool { return d.State().Status == dependency.Up })
	return d, url
}
