package worker

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/rca-engine/api/internal/db"
	"github.com/rca-engine/api/internal/dependency"
	"github.com/rca-engine/api/internal/uploads"
)

// TestDescribeNamesNoServerDetail: a job's error_message is readable by
// whoever reads the job; it must say what happened without the server's
// paths, addresses or PostgreSQL's text.
func TestDescribeNamesNoServerDetail(t *testing.T) {
	secret := "/srv/rca/uploads/blobs/ab/cd/abcdef 10.1.2.3:5432 password=hunter2"
	tests := []struct {
		err  error
		want string
	}{
		{&db.UnavailableError{State: dependency.State{Name: "postgres"}, Err: errors.New(secret)}, "PostgreSQL was unavailable"},
		{fmt.Errorf("list: %w", &uploads.StorageError{Err: errors.New(secret)}), "file storage was unavailable"},
		{fmt.Errorf("read app.log: %w", &fs.PathError{Op: "read", Path: secret, Err: errors.New("input/output error")}), "could not read a file: read: input/output error"},
		{context.DeadlineExceeded, "WORKER_TIMEOUT"},
	}
	for _, tt := range tests {
		got := describe(tt.err)
		if !strings.Contains(got, tt.want) || strings.Contains(got, "10.1.2.3") || strings.Contains(got, "/srv/") || strings.Contains(got, "hunter2") {
			t.Errorf("describe(%v) = %q, want it to contain %q and no server detail", tt.err, got, tt.want)
		}
	}
}
