// Package migrations holds the schema as goose SQL files, embedded in the
// binary so that a deployed service can bring any database up to date on its
// own. Files are applied in version order, each in its own transaction.
package migrations

import "embed"

// FS is the set of migration files.
//
//go:embed *.sql
var FS embed.FS
