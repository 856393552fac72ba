package archive_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/rca-engine/api/internal/archive"
)

// FuzzWalk feeds arbitrary bytes to Walk under each format's name: it must
// never panic, never deliver a path that could escape its folder, never
// deliver more than the limits allow, and fail only with a refusal (the
// bytes are in memory: there is no I/O error to have).
func FuzzWalk(f *testing.F) {
	names := []string{"x.zip", "x.tar", "x.log.gz", "x.tar.gz"}
	tb := tarOf(f, file("a.log", logText), entry{name: "l", kind: '2', link: "../x"})
	for _, seed := range [][]byte{
		zipOf(f, file("a.log", logText), file("d/", ""), entry{name: "in.zip", data: zipOf(f, file("b.log", "b\n")), stored: true}),
		zipOf(f),
		tb,
		gz(f, []byte(logText)),
		gz(f, tb),
		gz(f, gz(f, []byte(logText))),
		zipOf(f, file("../evil.log", "x\n")),
		tarOf(f, file("/abs.log", "x\n")),
		[]byte("PK\x03\x04garbage"),
		{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff},
	} {
		for i := range names {
			f.Add(seed, uint8(i))
		}
	}
	lim := archive.Limits{MaxTotalBytes: 1 << 20, MaxMemberBytes: 256 << 10, MaxMembers: 64, MaxRatio: 50, MaxDepth: 2,
		TempDir: f.TempDir()}
	f.Fuzz(func(t *testing.T, data []byte, which uint8) {
		name := names[int(which)%len(names)]
		var total int64
		members := 0
		res, err := archive.Unpack(context.Background(), name, bytes.NewReader(data), int64(len(data)), lim,
			func(m archive.Member, r io.Reader) error {
				members++
				p := m.Path
				if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, "\\") || strings.ContainsRune(p, 0) ||
					!utf8.ValidString(p) || (len(p) >= 2 && p[1] == ':') {
					t.Fatalf("unsafe path %q", p)
				}
				for _, seg := range strings.Split(p, "/") {
					if seg == ".." || seg == "." || seg == "" {
						t.Fatalf("path %q has a %q segment", p, seg)
					}
				}
				n, _ := io.Copy(io.Discard, r)
				if n > lim.MaxMemberBytes {
					t.Fatalf("member %q delivered %d bytes over the %d limit", p, n, lim.MaxMemberBytes)
				}
				total += n
				return nil
			})
		if total > lim.MaxTotalBytes {
			t.Fatalf("delivered %d bytes over the %d total", total, lim.MaxTotalBytes)
		}
		if members > lim.MaxMembers || len(res.Skipped) > lim.MaxMembers {
			t.Fatalf("%d members, %d skipped over the %d limit", members, len(res.Skipped), lim.MaxMembers)
		}
		if err != nil && !errors.Is(err, archive.ErrRefused) {
			t.Fatalf("an error that is not a refusal: %v", err)
		}
	})
}
