package logparse

import (
	"encoding/csv"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rca-engine/api/internal/loghubtest"
)

func loghubDir(tb testing.TB) string { return loghubtest.Dir(tb) }

var loghubDatasets = []string{"Android", "Apache", "BGL", "HDFS", "HPC", "Hadoop", "HealthApp", "Linux", "Mac",
	"OpenSSH", "OpenStack", "Proxifier", "Spark", "Thunderbird", "Windows", "Zookeeper"}

// TestLoghubHeaders checks header extraction against the ground truth: each
// structured CSV gives, per line, the Content after the header. It reports
// the share of lines whose Message equals Content (spaces trimmed at both
// ends) and fails below a floor, so that a regression shows.
func TestLoghubHeaders(t *testing.T) {
	dir := loghubDir(t)
	total, totalOK := 0, 0
	for _, d := range loghubDatasets {
		f, err := os.Open(filepath.Join(dir, d, d+"_2k.log"))
		if err != nil {
			t.Fatal(err)
		}
		contents := loghubContents(t, filepath.Join(dir, d, d+"_2k.log_structured_corrected.csv"))
		rd := NewReader(f, d, Options{})
		ok, n, timed, leveled, joined := 0, 0, 0, 0, 0
		var bad []string
		for {
			rec, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			n += rec.Lines
			if rec.Lines > 1 {
				joined += rec.Lines
			}
			if !rec.Time.IsZero() {
				timed += rec.Lines
			}
			if rec.Level != LevelUnknown {
				leveled += rec.Lines
			}
			want, have := contents[rec.Line], strings.TrimSpace(rec.Message)
			if rec.Lines == 1 && have == strings.TrimSpace(want) {
				ok++
			} else if len(bad) < 3 {
				bad = append(bad, "line "+itoa(rec.Line)+": got "+quote(have)+" want "+quote(want))
			}
		}
		f.Close()
		if n != len(contents) {
			t.Errorf("%s: %d physical lines, the CSV has %d", d, n, len(contents))
		}
		share := float64(ok) / float64(len(contents))
		t.Logf("%-11s format=%-14s message==Content %5.1f %%  with time %5.1f %%  with level %5.1f %%  joined lines %d",
			d, rd.Format(), 100*share, 100*float64(timed)/float64(n), 100*float64(leveled)/float64(n), joined)
		for _, b := range bad {
			t.Logf("    %s", b)
		}
		if share < 0.95 {
			t.Errorf("%s: only %.1f %% of messages equal the ground truth's Content", d, 100*share)
		}
		total += len(contents)
		totalOK += ok
	}
	t.Logf("all: %.2f %% of %d lines", 100*float64(totalOK)/float64(total), total)
}

func loghubContents(t *testing.T, path string) map[int]string {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	head, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	col := -1
	for i, h := range head {
		if h == "Content" {
			col = i
		}
	}
	out := map[int]string{}
	for {
		row, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		out[atoi(row[0])] = row[col]
	}
	return out
}
