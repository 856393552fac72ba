// Package redact removes personal data and secrets from log text before it is
// stored or sent anywhere: emails, bearer tokens and API keys of well-known
// shapes, password=-style pairs, credentials in URLs, private keys, card
// numbers (Luhn-checked), and optionally IP addresses and hostnames. It must
// never touch timestamps, durations, ids, versions or line numbers: they are
// the evidence.
//
// What it finds is replaced by a placeholder in angle brackets: <email>,
// <secret>, <card>, <ip>, <hostname>, and <NAME> for an extra pattern called
// NAME. The shape is deliberate: the template miner treats a <...> token as
// a variable already, so a redacted line still groups with its unredacted
// siblings, and the placeholders are never matched again, which makes
// redaction idempotent (redacting twice changes nothing more).
//
// It works without regular expressions for the built-in kinds: each detector
// is triggered by a byte or a literal that has to be there ('@' for an
// email, "://" for URL credentials, '=' or ':' after a secret-sounding key, a
// run of 13+ digits for a card, a key's prefix such as AKIA or ghp_), so a
// line with none of them costs one pass over its bytes.
package redact

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Kind names what was redacted; it is also the placeholder's label.
type Kind string

const (
	Email    Kind = "email"
	Secret   Kind = "secret"
	Card     Kind = "card"
	IP       Kind = "ip"
	Hostname Kind = "hostname"
	Custom   Kind = "custom"
)

// Pattern is an extra, operator-supplied pattern.
type Pattern struct {
	Name   string // the placeholder's label
	Regexp string // RE2 syntax
}

// Config says what to redact.
type Config struct {
	Enabled   bool // PII_REDACTION_ENABLED
	IPs       bool // PII_REDACT_IPS: off by default, they are often the evidence
	Hostnames bool
	Extra     []Pattern
}

// DefaultConfig redacts emails, secrets and card numbers, not IPs or
// hostnames.
func DefaultConfig() Config { return Config{Enabled: true} }

// Counts are replacements per kind (an extra pattern counts under its name).
type Counts map[string]int

// Redactor applies a Config. It is safe for concurrent use.
type Redactor struct {
	cfg   Config
	extra []extra
}

type extra struct {
	name        string
	placeholder string
	re          *regexp.Regexp
	prefix      string // a literal every match starts with, for a cheap test
}

// New checks cfg (an extra pattern that does not compile is an error).
func New(cfg Config) (*Redactor, error) {
	r := &Redactor{cfg: cfg}
	for i, p := range cfg.Extra {
		name := strings.TrimSpace(p.Name)
		if name == "" {
			return nil, fmt.Errorf("redact: extra pattern %d (%q) has no name", i+1, p.Regexp)
		}
		if strings.ContainsAny(name, "<> \t\n") {
			return nil, fmt.Errorf("redact: extra pattern %q: the name must not contain <, > or spaces", name)
		}
		re, err := regexp.Compile(p.Regexp)
		if err != nil {
			return nil, fmt.Errorf("redact: extra pattern %q does not compile: %w", name, err)
		}
		if re.MatchString("") {
			return nil, fmt.Errorf("redact: extra pattern %q matches the empty string", name)
		}
		prefix, _ := re.LiteralPrefix()
		r.extra = append(r.extra, extra{name: name, placeholder: "<" + name + ">", re: re, prefix: prefix})
	}
	return r, nil
}

// span is one replacement: s[start:end] becomes the kind's placeholder.
type span struct {
	start, end int
	kind       Kind
}

// String returns s redacted, adding what it replaced to counts (which may be
// nil). s may hold several lines (a record's Text with a PEM block).
func (r *Redactor) String(s string, counts Counts) string {
	if r == nil || !r.cfg.Enabled || s == "" {
		return s
	}
	spans := r.find(s)
	out := s
	if len(spans) > 0 {
		out = apply(s, spans, counts)
	}
	for _, x := range r.extra {
		if x.prefix != "" && !strings.Contains(out, x.prefix) {
			continue
		}
		n := 0
		out = x.re.ReplaceAllStringFunc(out, func(m string) string {
			if m == x.placeholder {
				return m
			}
			n++
			return x.placeholder
		})
		if n > 0 && counts != nil {
			counts[x.name] += n
		}
	}
	return out
}

// find runs the detectors and returns their spans, sorted and without
// overlaps.
func (r *Redactor) find(s string) []span {
	var f finder
	// One pass for pairs, cards and keys, which notes whether a PEM block,
	// an '@' or "Bearer" is there for the detectors that need them.
	f.scanPairsAndCards(s)
	f.flush()
	if f.pem {
		f.findPEM(s)
		f.flush()
	}
	if f.at {
		f.findURLCreds(s)
		f.flush()
		f.findEmails(s)
		f.flush()
	}
	if f.bearer {
		f.findBearer(s)
		f.flush()
	}
	if r.cfg.IPs {
		f.findIPs(s)
		f.flush()
	}
	if r.cfg.Hostnames {
		f.findHostnames(s)
		f.flush()
	}
	return f.done
}

// finder collects spans: done is sorted and free of overlaps; own holds
// what the running detector found, in the order it found them.
type finder struct {
	done []span
	own  []span
	// what the first pass saw
	pem, at, bearer bool
}

func (f *finder) add(sp span) { f.own = append(f.own, sp) }

// overlaps reports whether [start,end) meets a span found before: a binary
// search in done, and the detector's own last span (a detector scans left
// to right).
func (f *finder) overlaps(start, end int) bool {
	if n := len(f.own); n > 0 && start < f.own[n-1].end && f.own[n-1].start < end {
		return true
	}
	i := sort.Search(len(f.done), func(i int) bool { return f.done[i].end > start })
	return i < len(f.done) && f.done[i].start < end
}

// flush merges own into done: sorted by start, the longest first; a span
// that meets one kept is dropped (a secret pair's value wins over a token
// found inside it), or joined when it is of the same kind.
func (f *finder) flush() {
	if len(f.own) == 0 {
		return
	}
	all := append(f.done, f.own...)
	f.own = f.own[:0]
	sort.Slice(all, func(i, j int) bool {
		if all[i].start != all[j].start {
			return all[i].start < all[j].start
		}
		return all[i].end > all[j].end
	})
	out := all[:1]
	for _, sp := range all[1:] {
		last := &out[len(out)-1]
		if sp.start < last.end {
			if sp.end > last.end && sp.kind == last.kind {
				last.end = sp.end
			}
			continue
		}
		out = append(out, sp)
	}
	f.done = out
}

func apply(s string, spans []span, counts Counts) string {
	var b strings.Builder
	b.Grow(len(s) + 8*len(spans))
	prev := 0
	for _, sp := range spans {
		b.WriteString(s[prev:sp.start])
		b.WriteByte('<')
		b.WriteString(string(sp.kind))
		b.WriteByte('>')
		prev = sp.end
		if counts != nil {
			counts[string(sp.kind)]++
		}
	}
	b.WriteString(s[prev:])
	return b.String()
}

// alnum is a table: the scan asks it for every byte.
var alnum = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')
	}
	return t
}()

func isAlnum(c byte) bool { return alnum[c] }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// isPlaceholder reports a value that is already a placeholder: <secret>,
// <email>, <NAME>.
func isPlaceholder(v string) bool {
	if len(v) < 3 || v[0] != '<' || v[len(v)-1] != '>' {
		return false
	}
	for i := 1; i < len(v)-1; i++ {
		c := v[i]
		if !(isAlnum(c) || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
