package uploads

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/rca-engine/api/internal/archive"
)

// zipOf is a zip of one member name holding content.
func zipOf(t *testing.T, name, content string) string {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, err := zw.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// logOf is n bytes of log lines that differ (they do not compress far).
func logOf(seed, n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "2024-01-02 03:04:05 host%d svc[%d]: event %d of %d\n", seed, i*7919%1000003, i, seed)
	}
	return b.String()[:n]
}

// TestArchiveLimitsHoldPerRequest: the archive limits bound what one
// request unpacks onto the disk, not each archive alone: a request of many
// archives, each within the limits, cannot stage many times them.
func TestArchiveLimitsHoldPerRequest(t *testing.T) {
	lim := archive.DefaultLimits()
	lim.MaxTotalBytes = 1 << 20
	lim.MaxMembers = 3
	e := newEnv(t, Config{Archive: lim})
	ctx := context.Background()

	// Bytes: two archives of 600 KB each; either alone is within 1 MiB.
	for _, one := range []string{"a.zip", "b.zip"} {
		if _, err := e.upload(t, e.job(t), one, zipOf(t, "x.log", logOf(len(one), 600<<10))); err != nil {
			t.Fatalf("%s alone: %v", one, err)
		}
	}
	_, err := e.upload(t, e.job(t), "a.zip", zipOf(t, "a.log", logOf(1, 600<<10)), "b.zip", zipOf(t, "b.log", logOf(2, 600<<10)))
	if r := refusal(t, err); r.Filename != "b.zip" || !strings.Contains(r.Detail, "request") {
		t.Errorf("two archives over the total together = %+v", r)
	}

	// Members: two archives of two members each, the limit 3.
	two := func(seed int) string {
		var b bytes.Buffer
		zw := zip.NewWriter(&b)
		for i := range 2 {
			w, _ := zw.Create(fmt.Sprintf("m%d.log", i))
			fmt.Fprintf(w, "seed %d member %d\n", seed, i)
		}
		zw.Close()
		return b.String()
	}
	_, err = e.upload(t, e.job(t), "c.zip", two(1), "d.zip", two(2))
	if r := refusal(t, err); r.Filename != "d.zip" || !strings.Contains(r.Detail, "request") {
		t.Errorf("two archives over the member count together = %+v", r)
	}
	if temps, _ := e.leftovers(t); len(temps) != 0 {
		t.Errorf("temp files left: %v", temps)
	}
	_ = ctx
}
