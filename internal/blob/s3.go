package blob

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3 is a Store in a bucket of an S3-compatible object store (AWS S3,
// MinIO, versitygw, SeaweedFS, Ceph RGW...), through minio-go: content
// lives at prefix/ab/cd/abcd…, the same layout as FS.
//
// Every call is bounded: connecting by DialTimeout, each metadata call (and
// the wait for any response's first byte) by Timeout, and a transfer by
// IdleTimeout of no progress, so a store that stops answering turns into an
// unavailable error instead of a hung request.
type S3 struct {
	client   *minio.Client
	tr       *http.Transport
	core     minio.Core
	bucket   string
	prefix   string
	timeout  time.Duration
	partSize int64
}

const (
	defaultS3Timeout     = 10 * time.Second
	defaultS3IdleTimeout = 60 * time.Second
	defaultS3DialTimeout = 5 * time.Second
	defaultS3PartSize    = 16 << 20
	minS3PartSize        = 5 << 20
)

// NewS3 returns a store in cfg.Bucket. It makes no request: a store that is
// down at start is reported by Ping (health) and by each call, so the
// service can start without it.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("STORAGE_URL: an S3 store needs a bucket (s3://bucket/prefix)")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultS3Timeout
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = defaultS3IdleTimeout
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = defaultS3DialTimeout
	}
	if cfg.PartSize <= 0 {
		cfg.PartSize = defaultS3PartSize
	}
	if cfg.PartSize < minS3PartSize {
		return nil, fmt.Errorf("blob: S3 part size %d is under S3's minimum of 5 MiB", cfg.PartSize)
	}
	if cfg.MaxRetries <= 0 {
		cfg.MaxRetries = 2
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	host, secure := "s3.amazonaws.com", true
	if cfg.Endpoint != "" {
		u, err := url.Parse(cfg.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
			(u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return nil, errors.New("S3_ENDPOINT must be a URL like http://host:port or https://host (no path, no credentials)")
		}
		host, secure = u.Host, u.Scheme == "https"
	}
	lookup := minio.BucketLookupAuto
	pathStyle := cfg.Endpoint != ""
	if cfg.ForcePathStyle != nil {
		pathStyle = *cfg.ForcePathStyle
	}
	if pathStyle {
		lookup = minio.BucketLookupPath
	}
	var creds *credentials.Credentials
	if cfg.AccessKeyID != "" || cfg.SecretAccessKey != "" {
		creds = credentials.NewStaticV4(cfg.AccessKeyID, cfg.SecretAccessKey, "")
	} else {
		creds = credentials.New(&credentials.Static{}) // anonymous
	}
	tr := newTransport(cfg)
	client, err := minio.New(host, &minio.Options{
		Creds:        creds,
		Secure:       secure,
		Region:       cfg.Region,
		BucketLookup: lookup,
		Transport:    tr,
		MaxRetries:   cfg.MaxRetries,
	})
	if err != nil {
		// minio-go's message names the endpoint at most, never the keys.
		return nil, fmt.Errorf("blob: S3 client: %w", err)
	}
	return &S3{
		client: client, tr: tr, core: minio.Core{Client: client},
		bucket: cfg.Bucket, prefix: cfg.Prefix,
		timeout: cfg.Timeout, partSize: cfg.PartSize,
	}, nil
}

// newTransport is an HTTP transport whose every phase has a bound.
func newTransport(cfg S3Config) *http.Transport {
	dialer := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}
	idle := cfg.IdleTimeout
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			ic := &idleConn{Conn: c, idle: idle}
			ic.touch()
			return ic, nil
		},
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   cfg.Timeout,
		ResponseHeaderTimeout: cfg.Timeout,
		ExpectContinueTimeout: time.Second,
		// Shorter than the idle deadline, so a pooled connection is retired
		// before its deadline can fire under a new request.
		IdleConnTimeout:     idle / 2,
		MaxIdleConnsPerHost: 16,
	}
}

// idleConn is a connection that dies after idle without progress in either
// direction. Each read or write pushes both deadlines: a long upload that
// keeps sending lives as long as it needs, and one whose peer vanished (a
// blackholed NAT entry, a frozen server) fails within idle.
type idleConn struct {
	net.Conn
	idle time.Duration
}

func (c *idleConn) touch() { _ = c.Conn.SetDeadline(time.Now().Add(c.idle)) }

func (c *idleConn) Read(p []byte) (int, error) {
	c.touch()
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.touch()
	}
	return n, err
}

func (c *idleConn) Write(p []byte) (int, error) {
	c.touch()
	return c.Conn.Write(p)
}

func (s *S3) object(key string) string {
	name := key[:2] + "/" + key[2:4] + "/" + key
	if s.prefix != "" {
		return s.prefix + "/" + name
	}
	return name
}

// fail classifies err from a call made under ctx (the caller's): the
// caller's own cancellation stays what it is, a missing key is ErrNotFound,
// and anything else is the store failing (unreachable, timed out, 5xx, or
// refusing our credentials or bucket: a store we cannot use is down as far
// as an upload is concerned).
func (s *S3) fail(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	if resp := minio.ToErrorResponse(err); resp.Code == minio.NoSuchKey {
		return ErrNotFound
	}
	return unavailable("S3", fmt.Errorf("blob: S3: %w", err))
}

func (s *S3) bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// Put streams r to the store: one PUT up to PartSize, a multipart upload
// beyond (one part buffered at a time; minio-go aborts a failed upload so
// its parts do not linger).
func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if ok, err := s.Exists(ctx, key); err != nil || ok {
		return err
	}
	var exact *exactReader
	src := r
	if size >= 0 {
		exact = &exactReader{r: r, left: size}
		src = exact
	}
	tr := &trackReader{r: src}
	// Hide any ReaderAt or Seeker: minio-go would read a ReaderAt in
	// parallel sections, beyond what exactReader can check.
	_, err := s.client.PutObject(ctx, s.bucket, s.object(key), struct{ io.Reader }{tr}, size, minio.PutObjectOptions{
		PartSize:    uint64(s.partSize),
		ContentType: "application/octet-stream",
	})
	if err == nil && exact != nil {
		if ferr := exact.finish(); ferr != nil {
			// The body was longer than its size: what was stored is not the
			// content its key names.
			dctx, cancel := s.bounded(context.WithoutCancel(ctx))
			_ = s.client.RemoveObject(dctx, s.bucket, s.object(key), minio.RemoveObjectOptions{})
			cancel()
			return fmt.Errorf("blob: read content: %w", ferr)
		}
	}
	if err != nil {
		if tr.err != nil {
			return fmt.Errorf("blob: read content: %w", tr.err)
		}
		return s.fail(ctx, err)
	}
	return nil
}

func (s *S3) Open(ctx context.Context, key string) (Object, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	cctx, cancel := s.bounded(ctx)
	info, err := s.client.StatObject(cctx, s.bucket, s.object(key), minio.StatObjectOptions{})
	cancel()
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	return &s3Object{s: s, ctx: ctx, name: s.object(key), size: info.Size, etag: info.ETag}, nil
}

func (s *S3) Exists(ctx context.Context, key string) (bool, error) {
	if err := checkKey(key); err != nil {
		return false, err
	}
	cctx, cancel := s.bounded(ctx)
	defer cancel()
	_, err := s.client.StatObject(cctx, s.bucket, s.object(key), minio.StatObjectOptions{})
	if err = s.fail(ctx, err); errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

func (s *S3) Delete(ctx context.Context, key string) error {
	if err := checkKey(key); err != nil {
		return err
	}
	cctx, cancel := s.bounded(ctx)
	defer cancel()
	err := s.fail(ctx, s.client.RemoveObject(cctx, s.bucket, s.object(key), minio.RemoveObjectOptions{}))
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// Ping checks that the bucket exists and our credentials reach it.
func (s *S3) Ping(ctx context.Context) error {
	cctx, cancel := s.bounded(ctx)
	defer cancel()
	ok, err := s.client.BucketExists(cctx, s.bucket)
	if err != nil {
		return s.fail(ctx, err)
	}
	if !ok {
		return unavailable("S3", fmt.Errorf("blob: S3 bucket %q does not exist", s.bucket))
	}
	return nil
}

// s3Object reads an object by ranged GETs: Read streams from the current
// offset on one response until a Seek moves it; each ReadAt is a GET of its
// own range, so concurrent ReadAts are safe. Requests are pinned to the
// ETag seen at Open.
type s3Object struct {
	s    *S3
	ctx  context.Context
	name string
	size int64
	etag string

	off  int64
	body io.ReadCloser
}

func (o *s3Object) Size() int64 { return o.size }

func (o *s3Object) get(start, end int64) (io.ReadCloser, error) {
	opts := minio.GetObjectOptions{}
	if err := opts.SetRange(start, end); err != nil {
		return nil, err
	}
	if o.etag != "" {
		_ = opts.SetMatchETag(o.etag)
	}
	body, _, _, err := o.s.core.GetObject(o.ctx, o.s.bucket, o.name, opts)
	if err != nil {
		return nil, o.s.fail(o.ctx, err)
	}
	return body, nil
}

func (o *s3Object) Read(p []byte) (int, error) {
	if o.off >= o.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if o.body == nil {
		b, err := o.get(o.off, o.size-1)
		if err != nil {
			return 0, err
		}
		o.body = b
	}
	n, err := o.body.Read(p)
	o.off += int64(n)
	switch {
	case err == io.EOF && o.off < o.size:
		o.closeBody()
		return n, o.s.fail(o.ctx, fmt.Errorf("object ended at %d of %d bytes: %w", o.off, o.size, io.ErrUnexpectedEOF))
	case err == io.EOF:
		o.closeBody()
		return n, io.EOF
	case err != nil:
		o.closeBody()
		return n, o.s.fail(o.ctx, err)
	}
	return n, nil
}

func (o *s3Object) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("blob: negative offset")
	}
	if off >= o.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	want := p
	if rest := o.size - off; int64(len(want)) > rest {
		want = want[:rest]
	}
	body, err := o.get(off, off+int64(len(want))-1)
	if err != nil {
		return 0, err
	}
	defer body.Close()
	n, err := io.ReadFull(body, want)
	if err != nil {
		return n, o.s.fail(o.ctx, err)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (o *s3Object) Seek(offset int64, whence int) (int64, error) {
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = o.off + offset
	case io.SeekEnd:
		abs = o.size + offset
	default:
		return 0, errors.New("blob: invalid whence")
	}
	if abs < 0 {
		return 0, errors.New("blob: negative position")
	}
	if abs != o.off {
		o.closeBody()
		o.off = abs
	}
	return abs, nil
}

func (o *s3Object) closeBody() {
	if o.body != nil {
		o.body.Close()
		o.body = nil
	}
}

func (o *s3Object) Close() error {
	o.closeBody()
	return nil
}

// Close closes the store's idle connections (at shutdown, so no goroutine
// of the HTTP transport outlives it). Calls in flight are not affected.
func (s *S3) Close() error {
	s.tr.CloseIdleConnections()
	return nil
}

// String names the store without its credentials, for logs.
func (s *S3) String() string {
	return "s3://" + s.bucket + "/" + strings.TrimPrefix(s.prefix, "/")
}
