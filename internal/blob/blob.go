// Package blob stores file content by key: a local directory by default, an
// S3-compatible object store when several replicas share the files. Keys are
// content addresses (the SHA-256 of the content in hex), so storing the same
// content twice stores it once; which rows refer to it is the database's
// business, not the store's.
package blob

import (
	"context"
	"errors"
	"io"
)

// ErrNotFound is returned for a key the store does not hold.
var ErrNotFound = errors.New("blob: not found")

// Object is stored content opened for reading, with random access so that a
// download can answer a Range request and a zip can be read from its end.
type Object interface {
	io.ReadSeekCloser
	io.ReaderAt
	Size() int64
}

// Store is a place for content. Implementations are safe for concurrent use.
type Store interface {
	// Put stores size bytes of r under key. Putting a key that exists is not
	// an error and leaves the stored content as it was (same key, same
	// content). A Put that fails leaves nothing under key.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	Open(ctx context.Context, key string) (Object, error)
	// Exists reports whether key is stored.
	Exists(ctx context.Context, key string) (bool, error)
	// Delete removes key; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// Ping checks that the store answers, for health.
	Ping(ctx context.Context) error
}
