package analysis

import (
	"math"
	"sort"

	"github.com/rca-engine/api/internal/analysis/drain"
	"github.com/rca-engine/api/internal/analysis/logparse"
)

// sig is one signature (clusters merged by final template) as the ranking
// sees it, on the axis the ranking runs on.
type sig struct {
	id, template string
	st           *sigStat
	hint         *hint

	onAxis        bool // has occurrences on the ranking axis
	first, last   okey // on the axis
	buckets       []uint32
	burst         bool
	burstIdx      int
	rateBefore    float64 // per bucket
	rateAfter     float64
	onset         int64
	isNew, steady bool
	// escalated: a signature that was there all along at a low level and
	// starts occurring at warn or above (an access log line that turns
	// from 200 to 500 is one template): its high-level part is a symptom,
	// with its onset at the first high-level occurrence.
	escalated       bool
	firstError      bool
	firstErrKey     okey // where the first error is, when firstError
	score           float64
	symptoms        []*sig // the largest few, by count
	nSymptoms       int    // all of them
	symptomErrors   int    // those at error or above
	symptomCount    int64
	symptomFiles    int
	preceded        []*sig
	precedesFirstEr bool
}

// axis is the grid the ranking runs on and what it knows of the whole.
type axis struct {
	g        *grid
	ordinal  bool
	lo, hi   int64 // the span of the bulk of the records
	span     int64
	tlLo     int // the buckets of all the records
	tlHi     int
	window   int64 // "right after": how close a symptom must start
	bLo, bHi int
	scratch  []uint32
}

// Level weights. sevWeight scores a candidate by its own level;
// symptomWeight scores what rises after it; cascadeGain says how much a
// candidate of that level may earn from a cascade (a rare info line before an
// incident is a lead, not a verdict).
var (
	sevWeight     = [nLevels]float64{0.5, 0.05, 0.05, 0.25, 0.5, 1, 2, 3}
	symptomWeight = [nLevels]float64{0.3, 0, 0, 0.1, 0.4, 1, 1.5, 2}
	cascadeGain   = [nLevels]float64{0.5, 0.1, 0.1, 0.5, 0.5, 1, 1, 1}
)

const (
	rareMax       = 5    // "rare": at most this many occurrences
	maxCandidates = 2000 // candidates scored in full
	burstMin      = 3    // a burst bucket holds at least this many
	burstFactor   = 5.0  // and this many times the rate before it, plus burstMin
	newAfter      = 0.10 // "new": first seen after this fraction of the span
	steadyHead    = 0.05 // "steady": starts within the first 5 % of the span,
	steadyTail    = 0.20 // lasts into the last 20 %,
	steadyMin     = 5    // occurs at least 5 times and never bursts
	steadyPenalty = 0.25 // and its score is multiplied by this
)

func (a *Analyzer) axis() *axis {
	ax := &axis{g: &a.tgrid}
	if !a.anyTimed {
		ax.g, ax.ordinal = &a.ogrid, true
	}
	if !ax.g.set {
		return ax
	}
	ax.tlLo, ax.tlHi = ax.g.index(ax.g.lo), ax.g.index(ax.g.hi)
	// The span of the bulk of the records (0.5 % to 99.5 % of them): one
	// stray old line must not make everything else look "new".
	tl := &a.ttl
	if ax.ordinal {
		tl = &a.otl
	}
	var per [gridBuckets]uint64
	var total uint64
	for l := range tl {
		for i, n := range tl[l] {
			per[i] += n
			total += n
		}
	}
	loB, hiB := ax.tlLo, ax.tlHi
	var cum uint64
	for i := ax.tlLo; i <= ax.tlHi; i++ {
		cum += per[i]
		if float64(cum) > 0.005*float64(total) {
			loB = i
			break
		}
	}
	cum = 0
	for i := ax.tlHi; i >= ax.tlLo; i-- {
		cum += per[i]
		if float64(cum) > 0.005*float64(total) {
			hiB = i
			break
		}
	}
	ax.lo, ax.hi = max(ax.g.lo, ax.g.start(loB)), min(ax.g.hi, ax.g.start(hiB+1)-1)
	if ax.hi < ax.lo {
		ax.lo, ax.hi = ax.g.lo, ax.g.hi
	}
	ax.span = ax.hi - ax.lo
	w := ax.g.width()
	minW, maxW := int64(1e9), int64(15*60*1e9)
	if ax.ordinal {
		minW, maxW = 10, 1<<62
	}
	ax.window = max(ax.span/20, 2*w, minW)
	if ax.window > maxW {
		ax.window = max(maxW, 2*w)
	}
	ax.bLo, ax.bHi = ax.g.index(ax.lo), ax.g.index(ax.hi)
	return ax
}

func (ax *axis) dom() uint8 {
	if ax.ordinal {
		return 1
	}
	return 0
}

// prepare fills in what the ranking needs of s on ax.
func (ax *axis) prepare(s *sig) {
	d := ax.dom()
	if !s.st.dhas[d] || !ax.g.set {
		return
	}
	s.onAxis = true
	s.first, s.last = s.st.dfirst[d], s.st.dlast[d]
	ser := &s.st.tser
	if ax.ordinal {
		ser = &s.st.oser
	}
	// Dense series are used in place; a sparse one (≤ 32 occurrences) is
	// spread on a shared scratch array, not kept: 1 KiB per rare signature
	// would add up with tens of thousands of them.
	if ser.dense != nil {
		s.buckets = ser.dense
	} else {
		s.buckets = ax.spread(ser)
	}
	s.onset = s.first.pos
	if ax.span > 0 {
		s.isNew = float64(s.first.pos-ax.lo) > newAfter*float64(ax.span)
	}
	// A burst: the first bucket (after two of baseline) whose count jumps
	// well above the mean of the buckets before it.
	var sum float64
	for i := ax.bLo; i <= ax.bHi; i++ {
		c := float64(s.buckets[i])
		if i >= ax.bLo+2 {
			prior := sum / float64(i-ax.bLo)
			if c >= burstMin && c >= burstFactor*prior+burstMin {
				s.burst, s.burstIdx, s.rateBefore = true, i, prior
				end := min(i+5, ax.bHi+1)
				var after float64
				for j := i; j < end; j++ {
					after += float64(s.buckets[j])
				}
				s.rateAfter = after / float64(end-i)
				if st := ax.g.start(i); st > s.onset {
					s.onset = st
				}
				break
			}
		}
		sum += c
	}
	if l := s.st.maxLevel; l >= logparse.LevelWarn && s.st.levels[l] < s.st.count && s.st.lvlHas[l] &&
		s.st.lvlFirst[l].dom == d && ax.span > 0 &&
		float64(s.st.lvlFirst[l].pos-ax.lo) > newAfter*float64(ax.span) && !s.isNew {
		s.escalated = true
		if !s.burst {
			s.onset = s.st.lvlFirst[l].pos
		}
	}
	if ser.dense == nil {
		s.buckets = nil
	}
	if ax.span > 0 && !s.burst && s.st.dhasCount(d) >= steadyMin {
		head := float64(s.first.pos-ax.lo) <= steadyHead*float64(ax.span) // negative: before the bulk
		tail := float64(ax.hi-s.last.pos) <= steadyTail*float64(ax.span)
		s.steady = head && tail
	}
}

// spread returns a sparse series as buckets in ax's scratch array, valid
// until the next call.
func (ax *axis) spread(ser *series) []uint32 {
	if ax.scratch == nil {
		ax.scratch = make([]uint32, gridBuckets)
	}
	clear(ax.scratch)
	for _, t := range ser.times {
		ax.scratch[ax.g.index(t)]++
	}
	return ax.scratch
}

// episodes counts the runs of non-empty buckets of s (a crash loop is
// several).
func (ax *axis) episodes(s *sig) int {
	if !s.onAxis {
		return 0
	}
	ser := &s.st.tser
	if ax.ordinal {
		ser = &s.st.oser
	}
	c := ser.dense
	if c == nil {
		c = ax.spread(ser)
	}
	n := 0
	for i, v := range c {
		if v > 0 && (i == 0 || c[i-1] == 0) {
			n++
		}
	}
	return n
}

func (s *sigStat) dhasCount(d uint8) int64 {
	if d == 0 {
		return s.tser.n
	}
	return s.oser.n
}

// symptomOf says whether s rises right after e: it starts (or bursts) after
// e's first occurrence, within the window, and is new or bursting.
func (ax *axis) symptomOf(s, e *sig) bool {
	if s == e || !s.onAxis || (s.steady && !s.escalated) || !(s.isNew || s.burst || s.escalated) {
		return false
	}
	if symptomWeight[s.st.maxLevel] == 0 {
		return false
	}
	if s.onset < e.first.pos || s.onset > e.first.pos+ax.window {
		return false
	}
	if s.onset == e.first.pos && !e.first.less(s.first) {
		return false
	}
	return true
}

// topSymptoms keeps the five largest symptoms, by count then id.
func topSymptoms(list []*sig, s *sig) []*sig {
	const keep = 5
	bigger := func(a, b *sig) bool {
		if a.st.count != b.st.count {
			return a.st.count > b.st.count
		}
		return a.id < b.id
	}
	if len(list) == keep && !bigger(s, list[keep-1]) {
		return list
	}
	i := len(list)
	if i < keep {
		list = append(list, nil)
	} else {
		i = keep - 1
	}
	for i > 0 && bigger(s, list[i-1]) {
		list[i] = list[i-1]
		i--
	}
	list[i] = s
	return list
}

func rarity(n int64) float64 { return 1 / (1 + math.Log10(float64(max(n, 1)))) }

// rank scores every candidate and returns the causes, best first.
func (a *Analyzer) rank(sigs []*sig, ax *axis, firstErr *sig) []*sig {
	for _, s := range sigs {
		ax.prepare(s)
	}
	// Symptoms, by onset, for the window searches.
	var rising []*sig
	for _, s := range sigs {
		if s.onAxis && (!s.steady || s.escalated) && (s.isNew || s.burst || s.escalated) && symptomWeight[s.st.maxLevel] > 0 {
			rising = append(rising, s)
		}
	}
	sort.Slice(rising, func(i, j int) bool {
		if rising[i].onset != rising[j].onset {
			return rising[i].onset < rising[j].onset
		}
		return rising[i].first.less(rising[j].first)
	})
	// Candidates: anything at warn or above, rare, or bursting.
	var cands []*sig
	for _, s := range sigs {
		l := s.st.maxLevel
		if l >= logparse.LevelWarn || s.st.count <= rareMax*2 || s.burst || l == logparse.LevelUnknown {
			if l == logparse.LevelDebug || l == logparse.LevelTrace {
				continue
			}
			cands = append(cands, s)
		}
	}
	pre := func(s *sig) float64 { return sevWeight[s.st.maxLevel] * (1 + rarity(s.st.count)) }
	sort.Slice(cands, func(i, j int) bool {
		pi, pj := pre(cands[i]), pre(cands[j])
		if pi != pj {
			return pi > pj
		}
		return cands[i].id < cands[j].id
	})
	if len(cands) > maxCandidates {
		cands = cands[:maxCandidates]
	}
	files := map[int]bool{}
	for _, e := range cands {
		lvl := e.st.maxLevel
		score := pre(e)
		if e.onAxis {
			i := sort.Search(len(rising), func(i int) bool { return rising[i].onset >= e.first.pos })
			var w float64
			clear(files)
			for _, fc := range e.st.files {
				files[fc.file] = true
			}
			for ; i < len(rising) && rising[i].onset <= e.first.pos+ax.window; i++ {
				s := rising[i]
				if !ax.symptomOf(s, e) {
					continue
				}
				e.nSymptoms++
				if s.st.maxLevel >= logparse.LevelError {
					e.symptomErrors++
				}
				e.symptoms = topSymptoms(e.symptoms, s)
				e.symptomCount += s.st.count
				w += symptomWeight[s.st.maxLevel]
				for _, fc := range s.st.files {
					files[fc.file] = true
				}
			}
			e.symptomFiles = len(files)
			if e.nSymptoms > 0 {
				cascade := math.Log2(1+w) + 0.25*math.Log10(1+float64(e.symptomCount))
				cascade += 0.5 * float64(min(4, len(files)-1))
				score += cascadeGain[lvl] * cascade
			}
			if e.isNew {
				score += 0.5
			}
			if e.burst {
				score += 0.3
			}
			if firstErr != nil && e != firstErr && firstErr.onAxis && !e.steady && e.st.count <= rareMax &&
				e.first.less(firstErr.first) && firstErr.first.pos-e.first.pos <= ax.window {
				e.precedesFirstEr = true
				score += 0.75
			}
		}
		if e == firstErr {
			score += 1
		}
		if e.steady {
			score *= steadyPenalty
		}
		e.score = math.Round(score*1000) / 1000
	}
	sort.SliceStable(cands, func(i, j int) bool {
		if cands[i].score != cands[j].score {
			return cands[i].score > cands[j].score
		}
		if cands[i].first != cands[j].first {
			return cands[i].first.less(cands[j].first)
		}
		return cands[i].id < cands[j].id
	})
	var out []*sig
	for _, c := range cands {
		if c.score <= 0 {
			continue
		}
		out = append(out, c)
		if len(out) == a.opts.MaxCauses {
			break
		}
	}
	// What preceded each cause: rare or new signatures just before it.
	for _, c := range out {
		if !c.onAxis {
			continue
		}
		for _, p := range sigs {
			if p == c || !p.onAxis || p.steady || !(p.st.count <= rareMax || p.isNew) {
				continue
			}
			if !p.first.less(c.first) || c.first.pos-p.first.pos > ax.window {
				continue
			}
			if p.st.maxLevel == logparse.LevelDebug || p.st.maxLevel == logparse.LevelTrace {
				continue
			}
			c.preceded = append(c.preceded, p)
		}
		sort.Slice(c.preceded, func(i, j int) bool { // closest first
			return c.preceded[j].first.less(c.preceded[i].first)
		})
		if len(c.preceded) > 2 {
			c.preceded = c.preceded[:2]
		}
		sort.SliceStable(c.symptoms, func(i, j int) bool {
			if c.symptoms[i].st.count != c.symptoms[j].st.count {
				return c.symptoms[i].st.count > c.symptoms[j].st.count
			}
			return c.symptoms[i].id < c.symptoms[j].id
		})
	}
	return out
}

// signatures merges the clusters by final template and returns them in a
// stable order (by id), with the map from cluster to signature.
func (a *Analyzer) signatures() ([]*sig, []*sig) {
	a.miner.Clusters() // runs the miner's final refinement before the templates are read
	byID := map[string]*sig{}
	clusterSig := make([]*sig, len(a.stats))
	a.clusterSig = make([]string, len(a.stats))
	a.clusterTpl = make([]string, len(a.stats))
	for i, st := range a.stats {
		if st == nil {
			continue
		}
		tpl := a.miner.Template(drain.ClusterID(i))
		id := drain.SignatureID(tpl)
		a.clusterSig[i], a.clusterTpl[i] = id, tpl
		s := byID[id]
		if s == nil {
			s = &sig{id: id, template: tpl, st: st}
			byID[id] = s
		} else {
			s.st.merge(st, &a.tgrid, &a.ogrid)
		}
		clusterSig[i] = s
	}
	out := make([]*sig, 0, len(byID))
	for _, s := range byID {
		s.hint = findHint(s.template)
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out, clusterSig
}
