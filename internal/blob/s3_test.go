package blob_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"go.uber.org/goleak"

	"github.com/rca-engine/api/internal/apperr"
	"github.com/rca-engine/api/internal/blob"
	"github.com/rca-engine/api/internal/blob/s3test"
	"github.com/rca-engine/api/internal/faults"
)

// TestS3Unavailable breaks the network between the store and a real S3
// server and checks that every call answers "unavailable" within its
// timeout instead of hanging, and that the store recovers by itself.
func TestS3Unavailable(t *testing.T) {
	srv := s3test.Start(t)
	proxy := faults.NewT(t, srv.Addr())
	cfg := srv.Config(proxy.Addr(), "unavail")
	cfg.Timeout = 500 * time.Millisecond
	cfg.IdleTimeout = time.Second
	cfg.DialTimeout = 500 * time.Millisecond
	cfg.PartSize = partSize
	s, err := blob.NewS3(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	data, key := content(50_000, 42)
	mustPut(t, s, key, data)
	_, other := content(50_000, 43)

	// bound is generous: the timeouts above, a retry or two, a slow machine.
	const bound = 8 * time.Second
	calls := map[string]func() error{
		"ping":   func() error { return s.Ping(ctx) },
		"exists": func() error { _, err := s.Exists(ctx, key); return err },
		"open": func() error {
			o, err := s.Open(ctx, key)
			if err == nil {
				o.Close()
			}
			return err
		},
		"put":    func() error { return s.Put(ctx, other, bytes.NewReader(data), int64(len(data))) },
		"delete": func() error { return s.Delete(ctx, other) },
	}
	check := func(t *testing.T) {
		for name, call := range calls {
			start := time.Now()
			err := call()
			took := time.Since(start)
			if !blob.IsUnavailable(err) {
				t.Errorf("%s: %v, want an unavailable error", name, err)
			}
			if apperr.KindOf(err) != apperr.Unavailable {
				t.Errorf("%s: kind %q", name, apperr.KindOf(err))
			}
			if took > bound {
				t.Errorf("%s took %v", name, took)
			}
			if err != nil && strings.Contains(err.Error(), "rca-test-secret") {
				t.Errorf("%s: the error carries the secret key: %v", name, err)
			}
		}
	}

	t.Run("port closed", func(t *testing.T) {
		proxy.Down()
		defer func() {
			if err := proxy.Up(); err != nil {
				t.Fatal(err)
			}
		}()
		check(t)
	})
	t.Run("recovers", func(t *testing.T) {
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("Ping after the port reopened: %v", err)
		}
	})
	t.Run("blackholed", func(t *testing.T) {
		restore, err := proxy.Blackhole()
		if err != nil {
			t.Fatal(err)
		}
		defer restore()
		check(t)
	})
	t.Run("broken mid-read", func(t *testing.T) {
		if err := proxy.DropAll(); err != nil {
			t.Fatal(err)
		}
		big, bigKey := content(3<<20, 44)
		mustPut(t, s, bigKey, big)
		o, err := s.Open(ctx, bigKey)
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		if _, err := io.ReadFull(o, make([]byte, 1000)); err != nil {
			t.Fatal(err)
		}
		restore, err := proxy.Blackhole()
		if err != nil {
			t.Fatal(err)
		}
		defer restore()
		start := time.Now()
		_, err = io.Copy(io.Discard, o)
		if !blob.IsUnavailable(err) || time.Since(start) > bound {
			t.Fatalf("reading a blackholed object: %v after %v", err, time.Since(start))
		}
	})
	t.Run("server stopped", func(t *testing.T) {
		srv.Stop()
		check(t)
		srv.Restart()
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("Ping after a restart: %v", err)
		}
		if got := readAll(t, s, key); !bytes.Equal(got, data) {
			t.Fatal("content lost across a restart")
		}
	})
}

func TestS3PingMissingBucket(t *testing.T) {
	srv := s3test.Start(t)
	cfg := srv.Config("", "")
	cfg.Bucket = "no-such-bucket"
	s, err := blob.NewS3(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Ping(context.Background())
	if !blob.IsUnavailable(err) || !strings.Contains(err.Error(), "no-such-bucket") {
		t.Fatalf("Ping of a missing bucket: %v", err)
	}
}

func TestS3WrongCredentials(t *testing.T) {
	srv := s3test.Start(t)
	cfg := srv.Config("", "")
	cfg.SecretAccessKey = "wrong-secret-do-not-print"
	s, err := blob.NewS3(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Ping(context.Background())
	if !blob.IsUnavailable(err) {
		t.Fatalf("Ping with a wrong secret: %v, want unavailable", err)
	}
	if strings.Contains(err.Error(), "wrong-secret-do-not-print") {
		t.Fatalf("the error carries the secret: %v", err)
	}
}

func TestS3CallerCancelIsNotUnavailable(t *testing.T) {
	srv := s3test.Start(t)
	s, err := blob.NewS3(context.Background(), srv.Config("", ""))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, key := content(10, 1)
	for name, err := range map[string]error{
		"exists": func() error { _, err := s.Exists(ctx, key); return err }(),
		"put":    s.Put(ctx, key, bytes.NewReader(nil), 0),
		"ping":   s.Ping(ctx),
	} {
		if !errors.Is(err, context.Canceled) || blob.IsUnavailable(err) {
			t.Errorf("%s with a cancelled context: %v", name, err)
		}
	}
}

// TestS3LargePutIsMultipart checks that an object over the part size goes
// up in parts (a multipart ETag ends in -<parts>), so the conformance
// suite's large-object case does exercise multipart uploads.
func TestS3LargePutIsMultipart(t *testing.T) {
	srv := s3test.Start(t)
	cfg := srv.Config("", "mp")
	cfg.PartSize = partSize
	s, err := blob.NewS3(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	data, key := content(2*partSize+1, 77)
	mustPut(t, s, key, data)
	info, err := srv.Client().StatObject(context.Background(), srv.Bucket(), "mp/"+key[:2]+"/"+key[2:4]+"/"+key, minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(info.ETag, "-3") {
		t.Fatalf("ETag %q: not a 3-part upload", info.ETag)
	}
	small, skey := content(1000, 78)
	mustPut(t, s, skey, small)
	info, err = srv.Client().StatObject(context.Background(), srv.Bucket(), "mp/"+skey[:2]+"/"+skey[2:4]+"/"+skey, minio.StatObjectOptions{})
	if err != nil || strings.Contains(info.ETag, "-") {
		t.Fatalf("a small object: ETag %q, %v", info.ETag, err)
	}
}

// slowReader yields its data a piece at a time with a pause before each.
type slowReader struct {
	data  []byte
	piece int
	pause time.Duration
}

func (s *slowReader) Read(p []byte) (int, error) {
	if len(s.data) == 0 {
		return 0, io.EOF
	}
	time.Sleep(s.pause)
	n := copy(p[:min(len(p), s.piece)], s.data)
	s.data = s.data[n:]
	return n, nil
}

// TestS3SlowPutOutlivesTheIdleTimeout: the idle timeout ends dead
// transfers, not long ones. An upload that keeps sending for several idle
// timeouts succeeds.
func TestS3SlowPutOutlivesTheIdleTimeout(t *testing.T) {
	srv := s3test.Start(t)
	cfg := srv.Config("", "slow")
	cfg.IdleTimeout = time.Second
	cfg.Timeout = time.Second
	s, err := blob.NewS3(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	data, key := content(12*64<<10, 5)
	start := time.Now()
	if err := s.Put(context.Background(), key, &slowReader{data: data, piece: 64 << 10, pause: 300 * time.Millisecond}, int64(len(data))); err != nil {
		t.Fatalf("a slow but steady Put failed after %v: %v", time.Since(start), err)
	}
	if took := time.Since(start); took < 3*cfg.IdleTimeout {
		t.Fatalf("took only %v: the test did not outlast the idle timeout", took)
	}
	if got := readAll(t, s, key); !bytes.Equal(got, data) {
		t.Fatal("content differs")
	}
}

// TestS3CloseLeavesNoGoroutine: after Close, nothing of the store runs.
func TestS3CloseLeavesNoGoroutine(t *testing.T) {
	srv := s3test.Start(t)
	ignore := goleak.IgnoreCurrent()
	s, err := blob.NewS3(context.Background(), srv.Config("", "leak"))
	if err != nil {
		t.Fatal(err)
	}
	data, key := content(100_000, 3)
	mustPut(t, s, key, data)
	_ = readAll(t, s, key)
	s.Close()
	goleak.VerifyNone(t, ignore)
}
