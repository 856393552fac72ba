package blob_test

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rca-engine/api/internal/blob"
)

func fsTemps(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(dir, "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "put-") {
			names = append(names, e.Name())
		}
	}
	return names
}

func TestFSSweepsOldTempFiles(t *testing.T) {
	dir := t.TempDir()
	if _, err := blob.NewFS(dir); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(dir, "tmp", "put-old")
	young := filepath.Join(dir, "tmp", "put-young")
	for _, p := range []string{old, young} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-2 * blob.TempMaxAge)
	if err := os.Chtimes(old, past, past); err != nil {
		t.Fatal(err)
	}
	if _, err := blob.NewFS(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a temp file two hours old survived the sweep: %v", err)
	}
	if _, err := os.Stat(young); err != nil {
		t.Errorf("a temp file of a Put that may still run was swept: %v", err)
	}
}

func TestFSLayout(t *testing.T) {
	dir := t.TempDir()
	s, err := blob.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	data, key := content(100, 1)
	mustPut(t, s, key, data)
	got, err := os.ReadFile(filepath.Join(dir, key[:2], key[2:4], key))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("content not at dir/ab/cd/key: %v", err)
	}
}

func TestFSUnavailable(t *testing.T) {
	dir := t.TempDir()
	s, err := blob.NewFS(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	data, key := content(100, 2)
	// The share went away: the directory is gone and a file sits in its place.
	if err := os.RemoveAll(filepath.Join(dir, "store")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "store"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(context.Background()); !blob.IsUnavailable(err) {
		t.Errorf("Ping: %v, want unavailable", err)
	}
	if err := s.Put(context.Background(), key, bytes.NewReader(data), int64(len(data))); !blob.IsUnavailable(err) {
		t.Errorf("Put: %v, want unavailable", err)
	}
}

func TestOpenChoosesTheStore(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()

	s, err := blob.Open(ctx, blob.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if fsStore, ok := s.(*blob.FS); !ok || fsStore.Dir() != filepath.Join(dir, "blobs") {
		t.Fatalf("empty STORAGE_URL: %T %v, want FS in UPLOAD_DIR/blobs", s, s)
	}
	s, err = blob.Open(ctx, blob.Config{URL: "file://" + filepath.ToSlash(filepath.Join(dir, "elsewhere")), Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if fsStore, ok := s.(*blob.FS); !ok || fsStore.Dir() != filepath.Join(dir, "elsewhere") {
		t.Fatalf("file URL: %T, want FS in its path", s)
	}
	s, err = blob.Open(ctx, blob.Config{URL: "s3://my-bucket/rca/files", S3: blob.S3Config{Endpoint: "http://127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	if s3, ok := s.(*blob.S3); !ok || s3.String() != "s3://my-bucket/rca/files" {
		t.Fatalf("s3 URL: %T %v", s, s)
	}
}

func TestOpenRefusesBadConfig(t *testing.T) {
	const secret = "hunter2-very-secret"
	for _, c := range []struct {
		name string
		cfg  blob.Config
		want string
	}{
		{"not a URL", blob.Config{URL: "s3://bucket/%zz" + secret}, "STORAGE_URL"},
		{"credentials in the URL", blob.Config{URL: "s3://AKIA:" + secret + "@bucket/x"}, "STORAGE_URL"},
		{"unknown scheme", blob.Config{URL: "ftp://host/" + secret}, "STORAGE_URL"},
		{"bad bucket", blob.Config{URL: "s3://B_" + secret}, "STORAGE_URL"},
		{"no bucket", blob.Config{URL: "s3:///x"}, "STORAGE_URL"},
		{"dot-dot prefix", blob.Config{URL: "s3://bucket/a/../" + secret}, "STORAGE_URL"},
		{"query", blob.Config{URL: "s3://bucket/x?key=" + secret}, "STORAGE_URL"},
		{"file URL with a host", blob.Config{URL: "file://server/" + secret}, "STORAGE_URL"},
		{"endpoint with credentials", blob.Config{URL: "s3://bucket/x",
			S3: blob.S3Config{Endpoint: "http://u:" + secret + "@127.0.0.1:9000"}}, "S3_ENDPOINT"},
		{"endpoint without scheme", blob.Config{URL: "s3://bucket/x", S3: blob.S3Config{Endpoint: "127.0.0.1:9000"}}, "S3_ENDPOINT"},
		{"part size under 5 MiB", blob.Config{URL: "s3://bucket/x", S3: blob.S3Config{PartSize: 1 << 20}}, "5 MiB"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := blob.Open(context.Background(), c.cfg)
			if err == nil {
				t.Fatal("Open accepted it")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not name %s", err, c.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("error %q echoes the secret", err)
			}
		})
	}
}
