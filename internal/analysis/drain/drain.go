// Package drain mines log templates online: every message gets a cluster
// whose template has <*> where its messages differ, a stable signature id,
// and its parameter values. One default configuration serves every log; memory
// stays bounded however many templates a log produces.
//
// How (each step measured on Loghub-2k, see docs/benchmarks.md):
//
//   - Masking (mask.go): each whitespace token is rewritten by one byte scan
//     with <*> where a value of a usual shape sits: numbers, hex, ids with
//     digits, UUIDs, IPv4/IPv6/MAC, host:port, paths, URLs, times, dates,
//     key=value values, sizes with their unit, placeholders such as the
//     redactor's <email>. The literal structure around a value stays
//     ("(uid=<*>)"), words with one final digit ("ssh2", "eth0") stay words.
//   - Online mining as in Drain (He et al., ICWS 2017): a tree keyed by token
//     count and the first Depth tokens leads to a few clusters; a message
//     joins the most similar one if it shares SimThreshold of its literal
//     positions (tokens that both carry a variable count half), else it
//     starts a cluster. The default threshold is strict, so that messages
//     differing in one meaningful word ("VM Paused" / "VM Resumed") stay apart.
//     A leaf that outgrows a linear scan (many events of one length and
//     prefix, or a log whose every line is different) is split on the
//     template position that splits it best (split.go), so the time per
//     message stays flat however many templates a log has.
//   - Refine (refine.go): clusters whose templates are equal but at one
//     position that holds many distinct words (RefineMinValues), or holds
//     variables, are merged: the position is a variable (the column idea of
//     Brain, Yu et al., TSC 2023). It runs as the log grows and before
//     Clusters returns; merged ids stay valid and lead to the cluster they
//     joined (Canonical).
//   - SignatureID hashes the normalised template (runs of <*> are one
//     variable), so clusters of different token counts whose templates
//     normalise alike share a signature: count per SignatureID (Signatures).
//
// Bounds: MaxClusters live clusters; past it a message that fits no cluster
// is forced into the most similar cluster of its tree leaf (its template
// generalises), or, when the leaf is empty, into an overflow cluster for its
// token count whose template is all <*>. Forcing rather than evicting keeps
// every id ever returned valid and its counts exact, at the price of coarser
// templates once the bound is reached; records of merged clusters are a few
// words each and capped at 4×MaxClusters. Each tree node has at most
// MaxChildren children; further tokens share the node's <*> child.
package drain

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strings"
)

// ClusterID identifies a cluster within one Miner. Ids are dense, from 0.
type ClusterID int32

// Cluster is a template and how many messages it took.
type Cluster struct {
	ID       ClusterID
	Template string
	Size     int
}

// Config tunes a Miner. The zero value means the defaults.
type Config struct {
	// MaxClusters bounds the live clusters (memory); past it, messages are
	// forced into the nearest cluster or an overflow cluster (package doc).
	MaxClusters int
	// MaxChildren bounds the children of a prefix-tree node, its <*> child
	// included (Drain's max_children); further tokens go to the <*> child.
	// Nodes made by splitting a big leaf (split.go) have a child per
	// cluster at most, so the cluster bounds bound them.
	MaxChildren int
	// Depth is the number of leading tokens that key the prefix tree below
	// the token-count layer.
	Depth int
	// SimThreshold is the share of literal positions a message must share
	// with a cluster's template to join it online.
	SimThreshold float64
	// MaxTemplateBytes bounds the bytes of all templates together (a log of
	// long distinct lines could otherwise hold MaxClusters big templates);
	// past it the miner behaves as past MaxClusters.
	MaxTemplateBytes int
	// RefineMinValues is how many distinct words one position of otherwise
	// equal templates must hold for Refine to call it a variable; negative
	// turns Refine off.
	RefineMinValues int
}

// Defaults.
const (
	DefaultMaxClusters      = 50000
	DefaultMaxTemplateBytes = 64 << 20
	DefaultMaxChildren      = 100
	DefaultDepth            = 2
	DefaultSimThreshold     = 0.95
)

type cluster struct {
	tokens []string
	size   int
	parent ClusterID // itself for a canonical cluster; see Refine
	// gen[i]: position i became a variable because literal words differed
	// there (nil until one did); any word fits such a position, while a <*>
	// that masking made (a number) does not take a word
	gen  []bool
	leaf *node
	// overflow clusters (past MaxClusters) are all <*>, n tokens long
	overflow int
}

type node struct {
	children map[string]*node
	clusters []ClusterID
	refineAt int // len(clusters) that calls refineLeaf; 0: leafRefineAt
	// a leaf that grew past splitAt (0: leafSplitAt) clusters becomes an
	// inner node on template position split-1 (0: a leaf); see splitLeaf
	split   int
	splitAt int
}

type mtok struct {
	s, e   int32 // in the message
	ms, me int32 // in mbuf (masked form)
	kind   uint8
}

// Miner groups messages. It is not safe for concurrent use.
type Miner struct {
	cfg      Config
	byLen    map[int]*node
	clusters []cluster
	overflow map[int]ClusterID
	cache    map[uint64]ClusterID

	toks []mtok
	mbuf []byte
	// an open quoted key=value value while tokenizing: its quote, and how
	// many tokens it has taken
	openQ  byte
	quoted int

	// the best cluster scan found so far: id, similarity, parameters
	best       ClusterID
	bestSim    float64
	bestPar    int
	cutoff     float64        // scan needs no similarity below it
	splitVals  map[string]int // splitLeaf's scratch
	splitIDs   []ClusterID
	live       int  // canonical clusters, bounded by MaxClusters
	tplBytes   int  // bytes of the templates created, bounded by MaxTemplateBytes
	dirty      bool // clusters created since the last Refine
	lastRefine int  // cluster count at the last Refine

	// Refine's scratch
	refEnts        []refEnt
	refPre, refSuf []uint64
	refLive        []ClusterID
	refLens        map[int]bool // token counts merged in this round
	refTh          []uint64
	refKeys        []uint64
	refCount       []uint8
	refFull        map[uint64]ClusterID
	refGroup       []refEnt
}

const cacheMax = 1 << 16

// New returns a Miner.
func New(cfg Config) *Miner {
	if cfg.MaxClusters <= 0 {
		cfg.MaxClusters = DefaultMaxClusters
	}
	if cfg.MaxTemplateBytes <= 0 {
		cfg.MaxTemplateBytes = DefaultMaxTemplateBytes
	}
	if cfg.MaxChildren <= 0 {
		cfg.MaxChildren = DefaultMaxChildren
	}
	if cfg.Depth <= 0 {
		cfg.Depth = DefaultDepth
	}
	if cfg.RefineMinValues == 0 {
		cfg.RefineMinValues = DefaultRefineMinValues
	}
	if cfg.SimThreshold <= 0 {
		cfg.SimThreshold = DefaultSimThreshold
	}
	return &Miner{
		cfg:      cfg,
		byLen:    map[int]*node{},
		overflow: map[int]ClusterID{},
		cache:    map[uint64]ClusterID{},
	}
}

// tokenize fills m.toks and m.mbuf with the masked tokens of msg.
func (m *Miner) tokenize(msg string) {
	m.toks = m.toks[:0]
	m.mbuf = m.mbuf[:0]
	m.openQ, m.quoted = 0, 0
	n := len(msg)
	i := 0
	for i < n {
		for i < n {
			if c := msg[i]; c < 0x80 {
				if class[c]&cSpace == 0 {
					break
				}
				i++
			} else if sp, w := spaceAt(msg, i); sp {
				i += w
			} else {
				break
			}
		}
		if i >= n {
			break
		}
		j := i
		var all uint8 // the byte classes of the token, for maskClassed
		for j < n {
			cl := class[msg[j]]
			if cl&(cSpace|cHigh) == 0 {
				all |= cl
				j++
			} else if cl&cSpace != 0 {
				break
			} else if sp, w := spaceAt(msg, j); !sp {
				all |= cHigh
				j += w
			} else {
				break
			}
		}
		ms := len(m.mbuf)
		var k uint8
		if m.openQ != 0 {
			m.mbuf, k = m.inQuote(msg[i:j])
		} else {
			m.mbuf, k = maskClassed(m.mbuf, msg[i:j], all)
			m.openQ = openQuote(m.mbuf[ms:])
		}
		m.toks = append(m.toks, mtok{s: int32(i), e: int32(j), ms: int32(ms), me: int32(len(m.mbuf)), kind: k})
		if k == kLiteral && len(m.toks) >= 2 && m.toks[len(m.toks)-2].kind != kLiteral {
			m.quantity(msg) // a unit after a number
		}
		i = j
	}
}

// openQuote: the masked token ends in key="<*> (a quoted value that goes on
// in the next tokens); it returns the quote.
func openQuote(b []byte) byte {
	n := len(b)
	if n < 5 || string(b[n-3:]) != wildcard || b[n-5] != '=' {
		return 0
	}
	if q := b[n-4]; q == '"' || q == '\'' {
		return q
	}
	return 0
}

// maxQuoted bounds how many tokens an unclosed quote makes variables.
const maxQuoted = 32

// inQuote masks a token inside a quoted key=value value: all of it is the
// value, up to the closing quote, after which it is masked as usual.
func (m *Miner) inQuote(t string) ([]byte, uint8) {
	m.quoted++
	k := strings.IndexByte(t, m.openQ)
	if k < 0 {
		if m.quoted >= maxQuoted {
			m.openQ = 0
		}
		return append(m.mbuf, wildcard...), kVar
	}
	m.openQ = 0
	dst := append(m.mbuf, wildcard...)
	if k == len(t)-1 && t[k] == '"' || t[k] == '\'' && k == len(t)-1 {
		return append(dst, t[k]), kPartial
	}
	dst = append(dst, t[k])
	rest := t[k+1:]
	var all uint8
	for i := 0; i < len(rest); i++ {
		all |= class[rest[i]]
	}
	dst, _ = maskClassed(dst, rest, all)
	return dst, kPartial
}

// quantity makes the unit of a size part of its value: "5.2 KB",
// "1143 bytes (1.11 KB)", "<1 sec" are one variable each, so that "0 bytes"
// and "1143 bytes (1.11 KB)" give templates that normalise alike (a run of
// <*> is one variable). It looks at the token just added.
func (m *Miner) quantity(msg string) {
	n := len(m.toks)
	if n < 2 {
		return
	}
	cur, prev := &m.toks[n-1], &m.toks[n-2]
	if cur.kind != kLiteral || prev.kind == kLiteral {
		return
	}
	raw := msg[cur.s:cur.e]
	if c := raw[0]; class[c]&cAlpha == 0 && c != '%' && c != 0xC2 {
		return // units start with a letter (or %, or µ)
	}
	core := trimPunct(raw)
	bounded := false // "<1 sec", "~5 ms": a bound stands in for a duration
	if p := msg[prev.s]; p == '<' || p == '>' || p == '~' {
		bounded = isTimeUnit(core)
	}
	if prev.kind == kVar && (isUnit(core) || bounded) {
		// "KB" or "KB," after a number
		m.mbuf = append(m.mbuf[:cur.ms], wildcard...)
		m.mbuf = append(m.mbuf, raw[len(core):]...)
		cur.me = int32(len(m.mbuf))
		cur.kind = kVar
		if len(core) < len(raw) {
			cur.kind = kPartial
		}
		return
	}
	// "(1.11 KB)" after "1143 bytes": the alternate form of the same value
	if n >= 3 && strings.HasSuffix(core, ")") && isUnit(core[:len(core)-1]) {
		open := msg[prev.s:prev.e]
		if len(open) > 1 && open[0] == '(' && m.toks[n-3].kind == kVar && isUnit(trimPunct(msg[m.toks[n-3].s:m.toks[n-3].e])) {
			m.mbuf = append(m.mbuf[:prev.ms], wildcard...)
			prev.me = int32(len(m.mbuf))
			cur.ms = prev.me
			m.mbuf = append(m.mbuf, wildcard...)
			m.mbuf = append(m.mbuf, raw[len(core):]...)
			cur.me = int32(len(m.mbuf))
			cur.kind = kVar
			if len(core) < len(raw) {
				cur.kind = kPartial
			}
		}
	}
}

func trimPunct(s string) string {
	for len(s) > 0 {
		switch s[len(s)-1] {
		case ',', ';', '.', ':':
			s = s[:len(s)-1]
			continue
		}
		break
	}
	return s
}

func isTimeUnit(w string) bool {
	switch w {
	case "ns", "us", "µs", "ms", "s", "sec", "secs", "second", "seconds", "min", "mins", "minute", "minutes":
		return true
	}
	return false
}

// isUnit: units of size, whose magnitude varies within one event (0 bytes,
// 1.1 KB); time units stay literal (an event logs its durations in one unit,
// and the benchmarks' templates keep them).
func isUnit(w string) bool {
	switch w {
	case "b", "B", "byte", "bytes", "kb", "KB", "kB", "MB", "GB", "TB", "PB", "KiB", "MiB", "GiB", "TiB",
		"%":
		return true
	}
	return false
}

func (m *Miner) masked(i int) []byte {
	t := m.toks[i]
	return m.mbuf[t.ms:t.me]
}

func (m *Miner) hash() uint64 {
	// 8 bytes at a time; deterministic, so the same log always takes the
	// same path through the cache
	const k = 0x9E3779B97F4A7C15
	b := m.mbuf
	h := uint64(len(m.toks))*k ^ uint64(len(b))
	for len(b) >= 8 {
		h = (h ^ binary.LittleEndian.Uint64(b)) * k
		h ^= h >> 29
		b = b[8:]
	}
	var tail uint64
	for i, c := range b {
		tail |= uint64(c) << (8 * i)
	}
	h = (h ^ tail) * k
	for _, t := range m.toks {
		h = (h ^ uint64(t.me)) * k
	}
	return h ^ h>>32
}

// fits: every template position equals the message's or is <*>.
func (m *Miner) fits(c *cluster) bool {
	if c.overflow > 0 {
		return c.overflow == len(m.toks)
	}
	if len(c.tokens) != len(m.toks) {
		return false
	}
	for i, t := range c.tokens {
		if !tokenMatch(t, m.masked(i)) {
			return false
		}
	}
	return true
}

// tokenMatch: template token t stands for masked message token mt: equal,
// <*>, or a pattern such as "(<*>)" that mt fits ("(dsl-<*>)").
func tokenMatch(t string, mt []byte) bool {
	if t == wildcard || t == string(mt) {
		return true
	}
	if !strings.Contains(t, wildcard) {
		return false
	}
	return globMatch(t, string(mt))
}

// globMatch: <*> in pattern matches any run of bytes (also none).
func globMatch(pattern, s string) bool {
	i := strings.Index(pattern, wildcard)
	if i < 0 {
		return pattern == s
	}
	if !strings.HasPrefix(s, pattern[:i]) {
		return false
	}
	s = s[i:]
	pattern = pattern[i+len(wildcard):]
	for {
		j := strings.Index(pattern, wildcard)
		if j < 0 {
			return strings.HasSuffix(s, pattern)
		}
		piece := pattern[:j]
		k := strings.Index(s, piece)
		if k < 0 {
			return false
		}
		s = s[k+len(piece):]
		pattern = pattern[j+len(wildcard):]
	}
}

// generalize is the template token for two different tokens: their common
// literal prefix and suffix around one <*> ("(<*>)" for "(<*>)" and
// "(dsl-<*>)"), or <*>.
func generalize(a, b string) string {
	// the common part is cut at punctuation: "(<*>)" and "MININT-<*>", not
	// "user<*>" from two user names
	p := 0
	for p < len(a) && p < len(b) && a[p] == b[p] {
		p++
	}
	for p > 0 && class[a[p-1]]&(cAlpha|cDigit) != 0 {
		p--
	}
	// do not cut a <*> in two
	for p > 0 && (a[p-1] == '<' || a[p-1] == '*') {
		p--
	}
	sfx := 0
	for sfx < len(a)-p && sfx < len(b)-p && a[len(a)-1-sfx] == b[len(b)-1-sfx] {
		sfx++
	}
	for sfx > 0 && class[a[len(a)-sfx]]&(cAlpha|cDigit) != 0 {
		sfx--
	}
	for sfx > 0 && (a[len(a)-sfx] == '>' || a[len(a)-sfx] == '*') {
		sfx--
	}
	if p == 0 && sfx == 0 {
		return wildcard
	}
	pre, suf := a[:p], a[len(a)-sfx:]
	pre = strings.TrimSuffix(pre, wildcard)
	suf = strings.TrimPrefix(suf, wildcard)
	if pre == "" && suf == "" {
		return wildcard
	}
	return pre + wildcard + suf
}

// Add files message into a cluster and returns its id. The cluster's template
// may change as later messages arrive; Template gives the current one.
func (m *Miner) Add(message string) ClusterID {
	m.tokenize(message)
	h := m.hash()
	if id, ok := m.cache[h]; ok {
		id = m.find(id)
		c := &m.clusters[id]
		if m.fits(c) {
			c.size++
			return id
		}
	}
	id := m.add()
	if len(m.cache) >= cacheMax {
		clear(m.cache)
	}
	m.cache[h] = id
	return id
}

func (m *Miner) key(i int) string {
	if m.toks[i].kind == kVar {
		return wildcard
	}
	return string(m.masked(i))
}

func (m *Miner) add() ClusterID {
	n := len(m.toks)
	nd := m.byLen[n]
	if nd == nil {
		nd = &node{}
		m.byLen[n] = nd
	}
	// descend, creating nodes as needed (bounded by MaxChildren)
	for d := 0; d < m.cfg.Depth && d < n; d++ {
		if nd.children == nil {
			nd.children = map[string]*node{}
		}
		var next *node
		if m.toks[d].kind != kVar {
			next = nd.children[string(m.masked(d))]
		}
		if next == nil {
			k := wildcard
			if m.toks[d].kind != kVar && len(nd.children) < m.cfg.MaxChildren-1 {
				k = m.key(d)
			}
			next = nd.children[k]
			if next == nil {
				next = &node{}
				nd.children[strings.Clone(k)] = next
			}
		}
		nd = next
	}
	full := m.live >= m.cfg.MaxClusters || len(m.clusters) >= 4*m.cfg.MaxClusters || m.tplBytes >= m.cfg.MaxTemplateBytes
	// below the threshold only a full miner needs the most similar cluster
	m.best, m.bestSim, m.bestPar, m.cutoff = -1, -1, -1, m.cfg.SimThreshold
	if full {
		m.cutoff = -1
	}
	m.scan(nd)
	best, bestSim := m.best, m.bestSim
	if best >= 0 && bestSim >= m.cfg.SimThreshold {
		m.merge(best)
		return best
	}
	if full && m.dirty {
		// merging what Refine can merge is better than forcing a message
		// into a cluster it is not like
		m.Refine()
		return m.add()
	}
	if full {
		if best >= 0 {
			m.merge(best)
			return best
		}
		return m.overflowCluster(n)
	}
	id := ClusterID(len(m.clusters))
	// one string holds all the tokens of the new template (one allocation)
	toks := make([]string, n)
	if n > 0 {
		base := m.toks[0].ms
		all := string(m.mbuf[base:m.toks[n-1].me])
		m.tplBytes += len(all) + 16*n
		for i, t := range m.toks {
			toks[i] = all[t.ms-base : t.me-base]
		}
	}
	nd = m.place(nd)
	m.clusters = append(m.clusters, cluster{tokens: toks, size: 1, parent: id, leaf: nd})
	nd.clusters = append(nd.clusters, id)
	m.dirty = true
	m.live++
	if len(nd.clusters) >= max(nd.refineAt, leafRefineAt) {
		m.refineLeaf(nd)
		id = m.find(id)
	}
	if len(nd.clusters) > max(nd.splitAt, leafSplitAt) {
		m.splitLeaf(nd)
	}
	// Refine as the log goes, so a word variable (a user, a host) does not
	// grow a leaf of one cluster per value that every message must scan:
	// amortised, a pass each time the cluster count grew by half (at least 256).
	if n := len(m.clusters); n-m.lastRefine >= max(256, m.lastRefine/2) {
		m.Refine()
		return m.find(id)
	}
	return id
}

func (m *Miner) overflowCluster(n int) ClusterID {
	if id, ok := m.overflow[n]; ok {
		m.clusters[id].size++
		return id
	}
	id := ClusterID(len(m.clusters))
	m.clusters = append(m.clusters, cluster{overflow: max(n, 1), size: 1, parent: id})
	if n == 0 {
		m.clusters[id].overflow = 0
	}
	m.overflow[n] = id
	m.live++
	return id
}

// sim is the share of positions holding a literal on either side where the
// template and the message agree; positions that are variables on both sides
// say nothing about whether the messages are the same event.
//
// Below cutoff the exact figure does not matter (the cluster can be neither
// the best nor a match): sim stops at the first position where even
// agreeing everywhere after it could not reach cutoff, and returns that bound.
func (m *Miner) sim(c *cluster, cutoff float64) (float64, int) {
	// in half-points: two different tokens that both carry a variable
	// ("LOCAL(<*>)," and "<*>,") are half alike
	eq, denom, par := 0, 0, 0
	n := len(c.tokens)
	for i, t := range c.tokens {
		if loss := denom - eq; loss > 0 {
			if most := denom + 2*(n-i); float64(most-loss)/float64(most) < cutoff {
				return float64(most-loss) / float64(most), par
			}
		}
		mt := m.masked(i)
		k := m.toks[i].kind
		if t == wildcard {
			par++
			if k == kVar {
				continue
			}
			denom += 2
			if c.gen != nil && c.gen[i] {
				eq += 2 // a word where words already varied
			} else if k == kPartial {
				eq++
			}
			continue
		}
		denom += 2
		if t == string(mt) {
			eq += 2
		} else if k != kLiteral && strings.Contains(t, wildcard) {
			if globMatch(t, string(mt)) {
				eq += 2 // "(<*>)" covers "(dsl-<*>)"
			} else {
				eq++
			}
		}
	}
	if denom == 0 {
		return 1, par
	}
	return float64(eq) / float64(denom), par
}

func (m *Miner) merge(id ClusterID) {
	id = m.find(id)
	c := &m.clusters[id]
	c.size++
	for i, t := range c.tokens {
		if mt := m.masked(i); !tokenMatch(t, mt) {
			c.tokens[i] = generalize(t, string(mt))
			if m.toks[i].kind == kLiteral || !strings.Contains(t, wildcard) {
				c.markGen(i)
			}
		}
	}
}

func (c *cluster) markGen(i int) {
	if c.gen == nil {
		c.gen = make([]bool, len(c.tokens))
	}
	c.gen[i] = true
}

// Template is the current template of cluster id (of the cluster it was
// merged into, if it was). It may run Refine first, amortised over the calls;
// call Refine (or Clusters) after the last Add for the final templates.
func (m *Miner) Template(id ClusterID) string {
	if id < 0 || int(id) >= len(m.clusters) {
		return ""
	}
	m.maybeRefine()
	c := &m.clusters[m.find(id)]
	if c.overflow > 0 {
		return strings.TrimSuffix(strings.Repeat(wildcard+" ", c.overflow), " ")
	}
	return strings.Join(c.tokens, " ")
}

// Params are the values of message at the <*> positions of cluster id's
// template, one per <*>: tokens are aligned by position, and inside a token
// the literal pieces around each <*> anchor its value.
func (m *Miner) Params(id ClusterID, message string) []string {
	tpl := m.Template(id)
	return extractParams(tpl, message)
}

// Clusters lists the canonical clusters, by id, with final templates: it
// runs Refine first, so clusters merged into another are not listed (their
// ids stay valid: Template and Canonical follow them to the one they joined,
// whose Size counts their messages).
func (m *Miner) Clusters() []Cluster {
	m.Refine()
	var out []Cluster
	for i := range m.clusters {
		if m.clusters[i].parent != ClusterID(i) {
			continue
		}
		out = append(out, Cluster{ID: ClusterID(i), Template: m.Template(ClusterID(i)), Size: m.clusters[i].size})
	}
	return out
}

// Canonical is the cluster id now stands for: itself, or the cluster it was
// merged into by Refine. Count messages per Canonical id (or per
// SignatureID of the template, which also joins clusters of different token
// counts whose templates normalise alike).
func (m *Miner) Canonical(id ClusterID) ClusterID {
	if id < 0 || int(id) >= len(m.clusters) {
		return id
	}
	return m.find(id)
}

func (m *Miner) find(id ClusterID) ClusterID {
	r := id
	for m.clusters[r].parent != r {
		r = m.clusters[r].parent
	}
	for m.clusters[id].parent != r {
		next := m.clusters[id].parent
		m.clusters[id].parent = r
		id = next
	}
	return r
}

// SignatureID is a stable id for a template: the same template gets the same
// id in every run and every process, so jobs can be compared (past incidents).
func SignatureID(template string) string {
	sum := sha256.Sum256([]byte(NormalizeTemplate(template)))
	return hex.EncodeToString(sum[:6])
}
