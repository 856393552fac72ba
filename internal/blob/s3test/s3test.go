// Package s3test runs a real S3-compatible server for tests: versitygw
// (github.com/versity/versitygw) with its posix backend, in a temporary
// directory on a free loopback port. It is a test helper: tests of the blob
// store and of uploads use it, never a mock of the protocol.
//
// The binary is looked up as $RCA_VERSITYGW, then versitygw on PATH, then
// $(go env GOPATH)/bin/versitygw, where .ci/run installs it with
//
//	go install github.com/versity/versitygw/cmd/versitygw@v1.8.0
//
// Without it the tests skip, unless RCA_S3_TESTS=required (as in CI), which
// turns the skip into a failure.
package s3test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/rca-engine/api/internal/blob"
)

// Version is the versitygw release .ci/run installs.
const Version = "v1.8.0"

const (
	accessKey = "rca-test-access"
	secretKey = "rca-test-secret-key-0123456789"
	bucket    = "rca-test"
)

// Server is a running versitygw.
type Server struct {
	t    testing.TB
	bin  string
	root string
	logs string
	addr string
	cmd  *exec.Cmd
	done chan struct{}
}

// Binary returns the path of versitygw, or "" when it is not installed.
func Binary() string {
	if p := os.Getenv("RCA_VERSITYGW"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return ""
		}
		return p
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			gopath = string(out[:len(out)-1])
		}
	}
	for _, dir := range filepath.SplitList(gopath) {
		p := filepath.Join(dir, "bin", "versitygw")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// Start runs a server for t with an empty bucket, stopped when t ends, or
// skips t when versitygw is absent (fails it with RCA_S3_TESTS=required).
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary()
	if bin == "" {
		msg := "versitygw not found (RCA_VERSITYGW, PATH, GOPATH/bin); install it with " +
			"go install github.com/versity/versitygw/cmd/versitygw@" + Version
		if os.Getenv("RCA_S3_TESTS") == "required" {
			t.Fatal(msg + " (RCA_S3_TESTS=required)")
		}
		t.Skip(msg)
	}
	s := &Server{t: t, bin: bin, root: t.TempDir(), logs: t.TempDir()}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	ln.Close()
	s.start()
	t.Cleanup(s.Stop)

	c, err := minio.New(s.addr, &minio.Options{Creds: credentials.NewStaticV4(accessKey, secretKey, ""),
		Region: "us-east-1", BucketLookup: minio.BucketLookupPath})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("s3test: create bucket: %v", err)
	}
	return s
}

func (s *Server) start() {
	s.t.Helper()
	s.cmd = exec.Command(s.bin, "--access", accessKey, "--secret", secretKey, "--region", "us-east-1",
		"--port", s.addr, "--quiet", "--keep-alive", "posix", s.root)
	logf, err := os.OpenFile(filepath.Join(s.logs, "versitygw.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err == nil {
		s.cmd.Stdout, s.cmd.Stderr = logf, logf
	}
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("s3test: start %s: %v", s.bin, err)
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) {
		_ = cmd.Wait()
		if logf != nil {
			logf.Close()
		}
		close(done)
	}(s.cmd, s.done)
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-s.done:
			s.t.Fatalf("s3test: versitygw exited at start (log in %s)", filepath.Join(s.logs, "versitygw.log"))
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("s3test: versitygw did not listen on %s within 15 s", s.addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.addr }

// Bucket is the bucket Start created.
func (s *Server) Bucket() string { return bucket }

// Config is a blob.S3Config for the server's bucket under prefix, with
// endpoint addr (the server's own when empty: pass a proxy's to break the
// network between).
func (s *Server) Config(addr, prefix string) blob.S3Config {
	if addr == "" {
		addr = s.addr
	}
	return blob.S3Config{Endpoint: "http://" + addr, AccessKeyID: accessKey, SecretAccessKey: secretKey,
		Region: "us-east-1", Bucket: bucket, Prefix: prefix}
}

// URL is the STORAGE_URL of the bucket under prefix.
func (s *Server) URL(prefix string) string { return fmt.Sprintf("s3://%s/%s", bucket, prefix) }

// Stop kills the server (its data stays until the test ends).
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Restart starts a stopped server again on the same port and data.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	s.start()
}

// Client is a minio-go client of the server, for checks behind the store's
// back (incomplete multipart uploads, raw objects).
func (s *Server) Client() *minio.Client {
	s.t.Helper()
	c, err := minio.New(s.addr, &minio.Options{Creds: credentials.NewStaticV4(accessKey, secretKey, ""),
		Region: "us-east-1", BucketLookup: minio.BucketLookupPath})
	if err != nil {
		s.t.Fatal(err)
	}
	return c
}
