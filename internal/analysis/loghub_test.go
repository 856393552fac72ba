package analysis_test

import (
	"context"
	"encoding/csv"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/rca-engine/api/internal/analysis"
	"github.com/rca-engine/api/internal/analysis/drain"
	"github.com/rca-engine/api/internal/analysis/logparse"
	"github.com/rca-engine/api/internal/loghubtest"
)

// endToEndFloor is the average grouping accuracy (GA) the whole pipeline
// must keep on the raw Loghub-2k logs: header extraction and mining together
// (0.990 when it was set; the miner alone, on the truth's Content, is
// checked by drain's own floor).
const endToEndFloor = 0.97

// groupingAccuracy is GA as the Loghub benchmark defines it: a line is right
// when the set of lines in its predicted group is exactly the set in its true
// group.
func groupingAccuracy(truth, pred map[int]string) float64 {
	sets := func(m map[int]string) map[string][]int {
		g := map[string][]int{}
		for id, ev := range m {
			g[ev] = append(g[ev], id)
		}
		for _, v := range g {
			sort.Ints(v)
		}
		return g
	}
	key := func(ids []int) string {
		var b strings.Builder
		for _, id := range ids {
			b.WriteString(strconv.Itoa(id))
			b.WriteByte(',')
		}
		return b.String()
	}
	tset := map[string]bool{}
	for _, ids := range sets(truth) {
		tset[key(ids)] = true
	}
	right := 0
	for _, ids := range sets(pred) {
		if tset[key(ids)] {
			right += len(ids)
		}
	}
	return float64(right) / float64(len(truth))
}

// TestLoghubEndToEnd runs the engine on each raw Loghub-2k log (as the rca
// command's --structured output does) and checks grouping accuracy against
// the corrected labels. Skipped when the data is absent.
func TestLoghubEndToEnd(t *testing.T) {
	logs, _ := filepath.Glob(filepath.Join(loghubtest.Dir(t), "*", "*_2k.log"))
	if len(logs) == 0 {
		t.Skip("no Loghub-2k logs (set LOGHUB_DIR)")
	}
	var sum float64
	n := 0
	for _, log := range logs {
		truthFile := log + "_structured_corrected.csv"
		f, err := os.Open(truthFile)
		if err != nil {
			continue
		}
		rows, err := csv.NewReader(f).ReadAll()
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		col := map[string]int{}
		for i, h := range rows[0] {
			col[h] = i
		}
		truth := map[int]string{}
		for _, r := range rows[1:] {
			id, _ := strconv.Atoi(r[col["LineId"]])
			truth[id] = r[col["EventId"]]
		}
		lines := map[int]drain.ClusterID{}
		var a *analysis.Analyzer
		a, err = analysis.NewAnalyzer(analysis.Options{Line: func(rec *logparse.Record, c drain.ClusterID) {
			for i := 0; i < max(rec.Lines, 1); i++ {
				lines[rec.Line+i] = c
			}
		}})
		if err != nil {
			t.Fatal(err)
		}
		in, err := os.Open(log)
		if err != nil {
			t.Fatal(err)
		}
		err = a.Add(context.Background(), analysis.Source{Name: filepath.Base(log)}, io.Reader(in))
		in.Close()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.Report(context.Background()); err != nil {
			t.Fatal(err)
		}
		pred := map[int]string{}
		for id, c := range lines {
			if _, ok := truth[id]; ok {
				pred[id], _ = a.Signature(c)
			}
		}
		for id := range truth {
			if _, ok := pred[id]; !ok {
				pred[id] = "missing-" + strconv.Itoa(id)
			}
		}
		ga := groupingAccuracy(truth, pred)
		t.Logf("%-12s GA %.3f", filepath.Base(filepath.Dir(log)), ga)
		sum += ga
		n++
	}
	if n == 0 {
		t.Skip("no truth files")
	}
	avg := sum / float64(n)
	t.Logf("average GA %.3f over %d logs", avg, n)
	if avg < endToEndFloor {
		t.Errorf("average end-to-end GA %.3f below the floor %.2f", avg, endToEndFloor)
	}
}
