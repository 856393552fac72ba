package db_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/rca-engine/api/internal/db"
	"github.com/rca-engine/api/internal/dependency"
	"github.com/rca-engine/api/internal/pgtest"
)

// BenchmarkPointRead measures what the wrapper costs over a bare pgxpool
// doing the same primary-key read on the same database, side by side:
//
//	go test ./internal/db -run '^$' -bench PointRead -count 10 | tee /tmp/pr.txt
//
// The bare pool is left at pgx's defaults, as a naive service would use it.
func BenchmarkPointRead(b *testing.B) {
	url, _ := pgtest.NewDatabase(b)
	d, err := db.New(testConfig(url))
	if err != nil {
		b.Fatal(err)
	}
	d.Start(context.Background())
	defer d.Close()
	pgtest.Eventually(b, 10e9, "up", func() bool { return d.State().Status == dependency.Up })
	var id uuid.UUID
	if err := d.Tx(context.Background(), func(ctx context.Context, tx *db.Tx) error {
		return tx.QueryRow(ctx, "INSERT INTO jobs (job_type) VALUES ('bench') RETURNING id").Scan(&id)
	}); err != nil {
		b.Fatal(err)
	}
	bare, err := pgxpool.New(context.Background(), url)
	if err != nil {
		b.Fatal(err)
	}
	defer bare.Close()
	const query = "SELECT job_type FROM jobs WHERE id = $1"
	ctx := context.Background()

	b.Run("bare-pgxpool", func(b *testing.B) {
		var s string
		for b.Loop() {
			if err := bare.QueryRow(ctx, query, id).Scan(&s); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("db.Read", func(b *testing.B) {
		var s string
		for b.Loop() {
			err := d.Read(ctx, func(ctx context.Context, q db.Querier) error {
				return q.QueryRow(ctx, query, id).Scan(&s)
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}
