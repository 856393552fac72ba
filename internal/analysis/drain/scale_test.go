package drain

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// distinctLines returns n lines that are all different templates: line k
// spells k in base 5 over eight word positions plus a parity word (word at
// position pos is "zz", 'g'+pos, 'p'+digit, "ing"), so any two lines differ
// in at least two of the nine words (too many for the similarity threshold)
// and no position has more than five values (nor does Refine see a position
// with many words). The first two tokens take 25 values between them, so
// the tree's leaves hold thousands of clusters each.
func distinctLines(n int) []string {
	const digits = 8
	out := make([]string, n)
	b := make([]byte, 0, 9*9)
	for k := 0; k < n; k++ {
		b = b[:0]
		sum := 0
		for pos, v := 0, k; pos < digits; pos, v = pos+1, v/5 {
			d := v % 5
			sum += d
			b = append(b, 'z', 'z', byte('g'+pos), byte('p'+d), 'i', 'n', 'g', ' ')
		}
		b = append(b, 'z', 'z', byte('g'+digits), byte('p'+sum%5), 'i', 'n', 'g')
		out[k] = string(b)
	}
	return out
}

// BenchmarkMinerDistinct mines n lines that are all different templates
// with a fresh miner per round (every line misses the cache and goes
// through the tree and the similarity); ns/line should stay about flat as n
// grows. Past DefaultMaxClusters (50,000) lines are forced into the nearest
// cluster (package doc).
func BenchmarkMinerDistinct(b *testing.B) {
	for _, n := range []int{8000, 40000, 200000} {
		msgs := distinctLines(n)
		size := 0
		for _, s := range msgs {
			size += len(s) + 1
		}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			c0 := cpuSeconds()
			for i := 0; i < b.N; i++ {
				m := New(Config{})
				for _, s := range msgs {
					m.Add(s)
				}
				m.Refine()
			}
			reportCPU(b, c0, size)
			if d := cpuSeconds() - c0; d > 0 {
				b.ReportMetric(d*1e9/float64(b.N*n), "cpu-ns/line")
			}
		})
	}
}

func TestDistinctLinesGenerator(t *testing.T) {
	msgs := distinctLines(3000)
	seen := map[string]bool{}
	for _, s := range msgs {
		if seen[s] {
			t.Fatalf("duplicate line %q", s)
		}
		seen[s] = true
	}
	// any two differ in at least two words
	for i := 0; i < 200; i++ {
		for j := i + 1; j < 200; j++ {
			a, b := Fields(msgs[i]), Fields(msgs[j])
			diff := 0
			for k := range a {
				if a[k] != b[k] {
					diff++
				}
			}
			if diff < 2 {
				t.Fatalf("%q and %q differ in %d words", msgs[i], msgs[j], diff)
			}
		}
	}
}

// TestDistinctTemplatesDoNotHang: 200,000 distinct templates (four times
// MaxClusters) finish in well under a minute even under -race, and every
// message is counted once.
func TestDistinctTemplatesDoNotHang(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	msgs := distinctLines(200000)
	start := time.Now()
	m := New(Config{})
	ids := make([]ClusterID, len(msgs))
	for i, s := range msgs {
		ids[i] = m.Add(s)
	}
	cl := m.Clusters()
	if d := time.Since(start); d > 60*time.Second {
		t.Fatalf("200,000 distinct templates took %v", d)
	}
	total := 0
	for _, c := range cl {
		total += c.Size
	}
	if total != len(msgs) {
		t.Errorf("clusters hold %d messages, %d added", total, len(msgs))
	}
	for i, id := range ids {
		c := m.Canonical(id)
		if c < 0 || int(c) >= len(m.clusters) || m.clusters[c].parent != c {
			t.Fatalf("message %d: id %d leads to %d, not a live cluster", i, id, c)
		}
		if tpl := m.Template(id); len(Fields(tpl)) != 9 {
			t.Fatalf("message %d: template %q", i, tpl)
		}
	}
}

// randomText returns n lines of 6 to 17 words drawn from a vocabulary of
// 5,000 made-up words (letters only, so masking keeps them): a log where
// almost every line is different text, whose first tokens also vary (the
// tree's MaxChildren bound sends most of them to the <*> children).
func randomText(n int) []string {
	r := rand.New(rand.NewPCG(1, 2))
	vocab := make([]string, 5000)
	for i := range vocab {
		w := make([]byte, 3+r.IntN(8))
		for j := range w {
			w[j] = byte('a' + r.IntN(26))
		}
		vocab[i] = string(w)
	}
	out := make([]string, n)
	var sb strings.Builder
	for k := range out {
		sb.Reset()
		words := 6 + r.IntN(12)
		for j := 0; j < words; j++ {
			if j > 0 {
				sb.WriteByte(' ')
			}
			sb.WriteString(vocab[r.IntN(len(vocab))])
		}
		out[k] = sb.String()
	}
	return out
}

// BenchmarkMinerRandomText: every line different text (randomText).
func BenchmarkMinerRandomText(b *testing.B) {
	for _, n := range []int{8000, 40000, 200000} {
		msgs := randomText(n)
		size := 0
		for _, s := range msgs {
			size += len(s) + 1
		}
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			c0 := cpuSeconds()
			for i := 0; i < b.N; i++ {
				m := New(Config{})
				for _, s := range msgs {
					m.Add(s)
				}
				m.Refine()
			}
			reportCPU(b, c0, size)
			if d := cpuSeconds() - c0; d > 0 {
				b.ReportMetric(d*1e9/float64(b.N*n), "cpu-ns/line")
			}
		})
	}
}

// TestSplitLeafKeepsMatches: a thousand events of one length and prefix
// (their leaf is split many times over) each come back in a new shape (a
// different masked form of the value, so the shape cache does not answer);
// every one must find the cluster of its first message.
func TestSplitLeafKeepsMatches(t *testing.T) {
	words := distinctLines(1000)
	m := New(Config{})
	first := make([]ClusterID, len(words))
	for k, w := range words {
		first[k] = m.Add(fmt.Sprintf("task manager %s took %d", w, k))
	}
	for k, w := range words {
		id := m.Add(fmt.Sprintf("task manager %s took (%d)", w, k+7))
		if m.Canonical(id) != m.Canonical(first[k]) {
			t.Fatalf("event %d: second message in cluster %d %q, first in %d %q", k, id, m.Template(id), first[k], m.Template(first[k]))
		}
	}
	if cl := m.Clusters(); len(cl) != len(words) {
		t.Errorf("%d clusters, want %d", len(cl), len(words))
	}
	// the leaf was split: no leaf of that tree holds more than maxLeafScan
	var walk func(nd *node) int
	walk = func(nd *node) int {
		big := len(nd.clusters)
		for _, ch := range nd.children {
			big = max(big, walk(ch))
		}
		return big
	}
	if big := walk(m.byLen[13]); big > maxLeafScan {
		t.Errorf("a leaf holds %d clusters", big)
	}
}

// TestUnsplittableLeaf: templates that hold a variable at every position
// but the first two ("a=<*> b=<*> xab=<*> yab=<*>") leave no position to
// split their leaf on; the scan is capped (the newest maxLeafScan clusters),
// so 20,000 of them finish, every message counted once, every id valid.
func TestUnsplittableLeaf(t *testing.T) {
	m := New(Config{})
	const n = 20000
	ids := make([]ClusterID, n)
	start := time.Now()
	for k := range ids {
		w := []byte{byte('a' + k%26), byte('a' + k/26%26), byte('a' + k/676%26)}
		ids[k] = m.Add(fmt.Sprintf("a=1 b=2 x%s=%d y%s=%d", w, k, w, k+1))
	}
	cl := m.Clusters()
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("%d templates took %v", n, d)
	}
	total := 0
	for _, c := range cl {
		total += c.Size
	}
	if total != n {
		t.Errorf("clusters hold %d messages, %d added", total, n)
	}
	if len(cl) < n/2 {
		t.Errorf("%d clusters for %d distinct keys", len(cl), n)
	}
	// the case under test: a leaf past maxLeafScan that did not split
	big := 0
	var walk func(nd *node)
	walk = func(nd *node) {
		if nd.split == 0 {
			big = max(big, len(nd.clusters))
		}
		for _, ch := range nd.children {
			walk(ch)
		}
	}
	walk(m.byLen[4])
	if big <= maxLeafScan {
		t.Errorf("largest leaf %d clusters: the templates were split after all", big)
	}
	for k, id := range ids {
		w := []byte{byte('a' + k%26), byte('a' + k/26%26), byte('a' + k/676%26)}
		if want := fmt.Sprintf("a=<*> b=<*> x%s=<*> y%s=<*>", w, w); k < 17576 && m.Template(id) != want {
			t.Fatalf("message %d: template %q, want %q", k, m.Template(id), want)
		}
	}
}

// TestUnionAtSplitPosition: when Refine merges two clusters that sit in
// different children of a split (their templates differ at the split
// position), the merged template has <*> there and must be met by a message
// with a word no child has: it is listed under the <*> child too.
func TestUnionAtSplitPosition(t *testing.T) {
	m := New(Config{RefineMinValues: -1}) // no Refine of its own: the test merges
	words := distinctLines(40)
	ids := make([]ClusterID, len(words))
	for k, w := range words {
		ids[k] = m.Add("svc daemon " + w)
	}
	var sp *node
	var find func(nd *node)
	find = func(nd *node) {
		if sp == nil && nd.split != 0 {
			sp = nd
		}
		for _, ch := range nd.children {
			find(ch)
		}
	}
	find(m.byLen[11])
	if sp == nil {
		t.Fatal("the leaf of 40 events did not split")
	}
	p := sp.split - 1
	a, b := ids[0], ClusterID(-1)
	for _, id := range ids[1:] {
		if m.clusters[id].tokens[p] != m.clusters[a].tokens[p] {
			b = id
			break
		}
	}
	m.union(a, b)
	tpl := Fields(m.Template(a))
	if tpl[p] != wildcard {
		t.Fatalf("merged template %q: position %d not a variable", m.Template(a), p)
	}
	msg := slices.Clone(tpl)
	for i, w := range msg {
		if w == wildcard {
			msg[i] = "brandnewword"
		}
	}
	if got := m.Add(strings.Join(msg, " ")); m.Canonical(got) != m.Canonical(a) {
		t.Errorf("%q went to cluster %d %q, want the merged %d %q", strings.Join(msg, " "), got, m.Template(got), a, m.Template(a))
	}
}

// FuzzManyTemplates: hundreds of messages built from the words of one input
// (the same prefix and length, words picked per message), so that leaves
// split and Refine merges across children; every message is counted once,
// every template keeps its message's token count.
func FuzzManyTemplates(f *testing.F) {
	f.Add("alpha beta gamma delta 42 uid=7 (x) /tmp/a eth0 ok", uint16(400))
	f.Add("a b c d e f g h i j k l m n o p", uint16(1000))
	f.Add("<*> x=<*> (<*>) 1 2 3 zz yy", uint16(300))
	f.Fuzz(func(t *testing.T, seed string, count uint16) {
		words := Fields(seed)
		if len(words) < 2 {
			return
		}
		n := int(count%2000) + 1
		width := min(len(words), 12)
		m := New(Config{MaxClusters: 300})
		msgs := make([]string, n)
		ids := make([]ClusterID, n)
		for k := range msgs {
			line := []string{"svc", "daemon"}
			for i := 0; i < width; i++ {
				line = append(line, words[(i*7+k*(i+1)+k/len(words))%len(words)])
			}
			msgs[k] = strings.Join(line, " ")
			ids[k] = m.Add(msgs[k])
		}
		total := 0
		for _, c := range m.Clusters() {
			total += c.Size
		}
		if total != n {
			t.Fatalf("clusters hold %d messages, %d added", total, n)
		}
		for k, id := range ids {
			if got, want := len(Fields(m.Template(id))), len(Fields(msgs[k])); got != want {
				t.Fatalf("message %q: template %q", msgs[k], m.Template(id))
			}
		}
	})
}
