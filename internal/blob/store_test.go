package blob_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/rca-engine/api/internal/blob"
	"github.com/rca-engine/api/internal/blob/s3test"
)

// partSize is the S3 part size of these tests: S3's minimum, so that a
// "large" object crosses the multipart threshold without taking long.
const partSize = 5 << 20

// backend is one Store under test, with a way to see what a failed Put may
// have left behind.
type backend struct {
	store blob.Store
	// leftovers lists what a failed Put could leave outside its key: temp
	// files for FS, incomplete multipart uploads for S3.
	leftovers func(t *testing.T) []string
}

func backends(t *testing.T) map[string]func(t *testing.T) backend {
	return map[string]func(t *testing.T) backend{
		"fs": func(t *testing.T) backend {
			dir := t.TempDir()
			s, err := blob.NewFS(dir)
			if err != nil {
				t.Fatal(err)
			}
			return backend{store: s, leftovers: func(t *testing.T) []string { return fsTemps(t, dir) }}
		},
		"s3": func(t *testing.T) backend {
			srv := s3test.Start(t)
			cfg := srv.Config("", "conformance")
			cfg.PartSize = partSize
			s, err := blob.NewS3(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			leftovers := func(t *testing.T) []string {
				var names []string
				for u := range srv.Client().ListIncompleteUploads(context.Background(), srv.Bucket(), "", true) {
					if u.Err != nil {
						t.Fatalf("list incomplete uploads: %v", u.Err)
					}
					names = append(names, u.Key)
				}
				return names
			}
			// The leftovers check must be able to fail: an upload begun and
			// not finished shows in it.
			core := minio.Core{Client: srv.Client()}
			id, err := core.NewMultipartUpload(context.Background(), srv.Bucket(), "probe", minio.PutObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if l := leftovers(t); len(l) != 1 || l[0] != "probe" {
				t.Fatalf("an incomplete upload does not show: %v", l)
			}
			if err := core.AbortMultipartUpload(context.Background(), srv.Bucket(), "probe", id); err != nil {
				t.Fatal(err)
			}
			return backend{store: s, leftovers: leftovers}
		},
	}
}

func content(n int, seed uint64) ([]byte, string) {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	sum := sha256.Sum256(b)
	return b, hex.EncodeToString(sum[:])
}

func readAll(t *testing.T, s blob.Store, key string) []byte {
	t.Helper()
	o, err := s.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer o.Close()
	b, err := io.ReadAll(o)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if o.Size() != int64(len(b)) {
		t.Fatalf("Size() = %d, read %d bytes", o.Size(), len(b))
	}
	return b
}

func mustPut(t *testing.T, s blob.Store, key string, b []byte) {
	t.Helper()
	if err := s.Put(context.Background(), key, bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatalf("Put: %v", err)
	}
}

func exists(t *testing.T, s blob.Store, key string) bool {
	t.Helper()
	ok, err := s.Exists(context.Background(), key)
	if err != nil {
		t.Fatalf("Exists: %v", err)
	}
	return ok
}

// failingReader yields n bytes of data, then err.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

// panicReader must not be read: Put of an existing key leaves it alone.
type panicReader struct{ t *testing.T }

func (p panicReader) Read([]byte) (int, error) {
	p.t.Error("Put read the body of a key already stored")
	return 0, io.EOF
}

func TestConformance(t *testing.T) {
	for name, mk := range backends(t) {
		t.Run(name, func(t *testing.T) {
			b := mk(t)
			s := b.store
			ctx := context.Background()

			t.Run("put and get", func(t *testing.T) {
				data, key := content(100_000, 1)
				if exists(t, s, key) {
					t.Fatal("key exists before Put")
				}
				mustPut(t, s, key, data)
				if !exists(t, s, key) {
					t.Fatal("key missing after Put")
				}
				if got := readAll(t, s, key); !bytes.Equal(got, data) {
					t.Fatal("content read back differs")
				}
			})

			t.Run("empty object", func(t *testing.T) {
				_, key := content(0, 0)
				mustPut(t, s, key, nil)
				if got := readAll(t, s, key); len(got) != 0 {
					t.Fatalf("read %d bytes of an empty object", len(got))
				}
			})

			t.Run("range: seek, read at", func(t *testing.T) {
				data, key := content(70_000, 2)
				mustPut(t, s, key, data)
				o, err := s.Open(ctx, key)
				if err != nil {
					t.Fatal(err)
				}
				defer o.Close()
				if _, err := o.Seek(60_000, io.SeekStart); err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(o)
				if err != nil || !bytes.Equal(got, data[60_000:]) {
					t.Fatalf("read after Seek: %d bytes, %v", len(got), err)
				}
				if pos, err := o.Seek(-10, io.SeekEnd); err != nil || pos != 69_990 {
					t.Fatalf("Seek from end: %d, %v", pos, err)
				}
				tail := make([]byte, 20)
				n, _ := io.ReadFull(o, tail)
				if n != 10 || !bytes.Equal(tail[:n], data[69_990:]) {
					t.Fatalf("read at end: %d bytes", n)
				}
				for _, c := range []struct {
					off, n, want int
					eof          bool
				}{{0, 10, 10, false}, {12_345, 1000, 1000, false}, {69_000, 1000, 1000, false},
					{69_500, 1000, 500, true}, {70_000, 10, 0, true}, {80_000, 10, 0, true}} {
					p := make([]byte, c.n)
					n, err := o.ReadAt(p, int64(c.off))
					if n != c.want || (c.eof != (err == io.EOF)) || (!c.eof && err != nil) {
						t.Errorf("ReadAt(%d bytes at %d) = %d, %v; want %d, eof %v", c.n, c.off, n, err, c.want, c.eof)
						continue
					}
					if n > 0 && !bytes.Equal(p[:n], data[c.off:c.off+n]) {
						t.Errorf("ReadAt(%d bytes at %d): wrong bytes", c.n, c.off)
					}
				}
			})

			t.Run("concurrent read at", func(t *testing.T) {
				data, key := content(200_000, 3)
				mustPut(t, s, key, data)
				o, err := s.Open(ctx, key)
				if err != nil {
					t.Fatal(err)
				}
				defer o.Close()
				var wg sync.WaitGroup
				for i := range 8 {
					wg.Go(func() {
						off := i * 20_000
						p := make([]byte, 20_000)
						if n, err := o.ReadAt(p, int64(off)); err != nil || n != len(p) || !bytes.Equal(p, data[off:off+n]) {
							t.Errorf("ReadAt at %d: %d, %v", off, n, err)
						}
					})
				}
				wg.Wait()
			})

			t.Run("missing key", func(t *testing.T) {
				_, key := content(10, 4)
				if _, err := s.Open(ctx, key); !errors.Is(err, blob.ErrNotFound) {
					t.Fatalf("Open of a missing key: %v, want ErrNotFound", err)
				}
				if err := s.Delete(ctx, key); err != nil {
					t.Fatalf("Delete of a missing key: %v", err)
				}
			})

			t.Run("delete", func(t *testing.T) {
				data, key := content(1000, 5)
				mustPut(t, s, key, data)
				if err := s.Delete(ctx, key); err != nil {
					t.Fatal(err)
				}
				if exists(t, s, key) {
					t.Fatal("key still there after Delete")
				}
				if _, err := s.Open(ctx, key); !errors.Is(err, blob.ErrNotFound) {
					t.Fatalf("Open after Delete: %v", err)
				}
			})

			t.Run("idempotent put", func(t *testing.T) {
				data, key := content(5000, 6)
				mustPut(t, s, key, data)
				if err := s.Put(ctx, key, panicReader{t}, int64(len(data))); err != nil {
					t.Fatalf("second Put: %v", err)
				}
				if got := readAll(t, s, key); !bytes.Equal(got, data) {
					t.Fatal("content changed by a second Put")
				}
			})

			t.Run("failed put leaves nothing", func(t *testing.T) {
				boom := errors.New("client hung up")
				big, _ := content(partSize+partSize/2, 7) // fails inside the second part: a multipart upload on S3
				for _, c := range []struct {
					name string
					r    func() io.Reader
					size int64
					want error
				}{
					{"reader fails early", func() io.Reader { return &failingReader{data: big[:1000], err: boom} }, 100_000, boom},
					{"reader fails in part two", func() io.Reader { return &failingReader{data: big, err: boom} }, int64(len(big)) + 1000, boom},
					{"reader short", func() io.Reader { return bytes.NewReader(big[:1000]) }, 2000, io.ErrUnexpectedEOF},
					{"reader long", func() io.Reader { return bytes.NewReader(big[:3000]) }, 2000, nil},
				} {
					t.Run(c.name, func(t *testing.T) {
						_, key := content(int(c.size), uint64(c.size))
						err := s.Put(ctx, key, c.r(), c.size)
						if err == nil {
							t.Fatal("Put succeeded")
						}
						if c.want != nil && !errors.Is(err, c.want) {
							t.Fatalf("Put: %v, want %v", err, c.want)
						}
						if blob.IsUnavailable(err) {
							t.Fatalf("the reader's failure is blamed on the store: %v", err)
						}
						if exists(t, s, key) {
							t.Fatal("a failed Put left its key")
						}
						if l := b.leftovers(t); len(l) > 0 {
							t.Fatalf("a failed Put left %v", l)
						}
					})
				}
			})

			t.Run("context cancelled mid-put", func(t *testing.T) {
				data, key := content(partSize+1000, 8)
				cctx, cancel := context.WithCancel(ctx)
				r := &cancelReader{r: bytes.NewReader(data), after: 64 << 10, cancel: cancel}
				err := s.Put(cctx, key, r, int64(len(data)))
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("Put: %v, want context.Canceled", err)
				}
				if exists(t, s, key) {
					t.Fatal("a cancelled Put left its key")
				}
				if l := b.leftovers(t); len(l) > 0 {
					t.Fatalf("a cancelled Put left %v", l)
				}
			})

			t.Run("concurrent puts of one key", func(t *testing.T) {
				data, key := content(300_000, 9)
				var wg sync.WaitGroup
				for range 8 {
					wg.Go(func() {
						if err := s.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
							t.Errorf("Put: %v", err)
						}
					})
				}
				wg.Wait()
				if got := readAll(t, s, key); !bytes.Equal(got, data) {
					t.Fatal("content differs after concurrent Puts")
				}
				if l := b.leftovers(t); len(l) > 0 {
					t.Fatalf("concurrent Puts left %v", l)
				}
			})

			t.Run("large object over the multipart threshold", func(t *testing.T) {
				data, key := content(2*partSize+12345, 10)
				mustPut(t, s, key, data)
				if got := readAll(t, s, key); !bytes.Equal(got, data) {
					t.Fatal("large content read back differs")
				}
				o, err := s.Open(ctx, key)
				if err != nil {
					t.Fatal(err)
				}
				defer o.Close()
				p := make([]byte, 4096)
				off := int64(partSize - 2048) // across the first part boundary
				if n, err := o.ReadAt(p, off); err != nil || !bytes.Equal(p[:n], data[off:off+int64(n)]) {
					t.Fatalf("ReadAt across a part boundary: %d, %v", n, err)
				}
			})

			t.Run("invalid keys", func(t *testing.T) {
				for _, key := range []string{"", "../../etc/passwd", "ABCDEF0123456789", "0123456789abcdef/..",
					"0123456789abcde", "0123456789abcdef\x00", "0123456789abcdeg"} {
					if err := s.Put(ctx, key, bytes.NewReader(nil), 0); !errors.Is(err, blob.ErrInvalidKey) {
						t.Errorf("Put(%q): %v", key, err)
					}
					if _, err := s.Open(ctx, key); !errors.Is(err, blob.ErrInvalidKey) {
						t.Errorf("Open(%q): %v", key, err)
					}
					if _, err := s.Exists(ctx, key); !errors.Is(err, blob.ErrInvalidKey) {
						t.Errorf("Exists(%q): %v", key, err)
					}
					if err := s.Delete(ctx, key); !errors.Is(err, blob.ErrInvalidKey) {
						t.Errorf("Delete(%q): %v", key, err)
					}
				}
			})

			t.Run("ping", func(t *testing.T) {
				if err := s.Ping(ctx); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

// cancelReader cancels its context after some bytes and goes on reading, as
// a request whose client went away does.
type cancelReader struct {
	r      io.Reader
	after  int
	read   int
	cancel func()
}

func (c *cancelReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read += n
	if c.read >= c.after {
		c.cancel()
		time.Sleep(time.Millisecond)
	}
	return n, err
}
