package db

import (
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestCreatedbCommand(t *testing.T) {
	tests := []struct {
		name string
		url  string
		want string
	}{
		{"plain", "postgres://postgres:secret@127.0.0.1:5432/rca_engine",
			"createdb -h 127.0.0.1 -p 5432 -U postgres rca_engine"},
		{"other port, socket directory", "host=/var/run/postgresql port=5433 user=rca password=secret dbname=rca",
			"createdb -h /var/run/postgresql -p 5433 -U rca rca"},
		{"words the shell would split or expand", "postgres://o%27brien:secret@db.example.com/rca%20%24HOME",
			`createdb -h db.example.com -p 5432 -U 'o'\''brien' 'rca $HOME'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cc, err := pgx.ParseConfig(tt.url)
			if err != nil {
				t.Fatal(err)
			}
			if got := createdbCommand(cc); got != tt.want {
				t.Errorf("createdbCommand = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestIsDuplicateDatabase(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: "42P04"}, true},
		{fmt.Errorf("create: %w", &pgconn.PgError{Code: "23505", ConstraintName: "pg_database_datname_index"}), true},
		{&pgconn.PgError{Code: "42501"}, false},
		{fmt.Errorf("boom"), false},
	}
	for _, tt := range tests {
		if got := isDuplicateDatabase(tt.err); got != tt.want {
			t.Errorf("isDuplicateDatabase(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
