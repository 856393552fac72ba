package redact

import (
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rca-engine/api/internal/analysis/logparse"
	"github.com/rca-engine/api/internal/loghubtest"
)

func loghubDir(tb testing.TB) string { return loghubtest.Dir(tb) }

var loghubDatasets = []string{"Android", "Apache", "BGL", "HDFS", "HPC", "Hadoop", "HealthApp", "Linux", "Mac",
	"OpenSSH", "OpenStack", "Proxifier", "Spark", "Thunderbird", "Windows", "Zookeeper"}

// TestLoghubUntouched redacts every line of the 16 Loghub-2k logs (the
// original's regex rewrote 30-88 % of them) and asserts that no record's
// timestamp or header changes with the default config. It reports how many
// lines changed, per dataset and kind, with the default config and with IPs
// and hostnames on.
func TestLoghubUntouched(t *testing.T) {
	dir := loghubDir(t)
	configs := []struct {
		name string
		cfg  Config
	}{{"default", DefaultConfig()}, {"ips+hostnames", Config{Enabled: true, IPs: true, Hostnames: true}}}
	for _, c := range configs {
		r := mustNew(t, c.cfg)
		totalLines, totalChanged := 0, 0
		for _, d := range loghubDatasets {
			f, err := os.Open(filepath.Join(dir, d, d+"_2k.log"))
			if err != nil {
				t.Fatal(err)
			}
			opts := logparse.Options{Year: 2020}
			rd := logparse.NewReader(f, d, opts)
			lines, changed := 0, 0
			counts := Counts{}
			var example string
			for {
				rec, err := rd.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				lines += rec.Lines
				out := r.String(rec.Text, counts)
				if out == rec.Text {
					continue
				}
				changed += rec.Lines
				if example == "" {
					example = out
				}
				if c.name != "default" {
					continue
				}
				again := logparse.NewReader(strings.NewReader(out), d, opts)
				// The header must be intact: parse the redacted line alone
				// with the file's format is not possible out of context, so
				// compare the header text and the time the whole file gave.
				header := rec.Text[:len(rec.Text)-len(rec.Message)]
				if rec.Lines == 1 && !strings.HasPrefix(out, header) {
					t.Errorf("%s line %d: the header changed:\n  %q\n  %q", d, rec.Line, rec.Text, out)
				}
				if r2, err := again.Next(); err == nil && !rec.Time.IsZero() && !sameTime(r2.Time, rec.Time) && again.Format() == rd.Format() {
					t.Errorf("%s line %d: the timestamp changed: %v -> %v", d, rec.Line, rec.Time, r2.Time)
				}
			}
			f.Close()
			totalLines += lines
			totalChanged += changed
			t.Logf("%-8s %-13s %-11s changed %4d of %d lines (%.2f %%) %s", c.name, "", d, changed, lines,
				100*float64(changed)/float64(lines), kinds(counts))
			if example != "" {
				t.Logf("    e.g. %.200q", example)
			}
		}
		t.Logf("%s: changed %d of %d lines (%.3f %%)", c.name, totalChanged, totalLines, 100*float64(totalChanged)/float64(totalLines))
		if c.name == "default" && totalChanged*1000 > totalLines {
			t.Errorf("the default config changed %d of %d lines: more than 0.1 %%", totalChanged, totalLines)
		}
	}
}

func sameTime(a, b time.Time) bool { return a.Equal(b) }

func kinds(c Counts) string {
	var ks []string
	for k, n := range c {
		ks = append(ks, k+"="+itoa(n))
	}
	sort.Strings(ks)
	return strings.Join(ks, " ")
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
