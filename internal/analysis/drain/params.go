package drain

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// spaceAt reports whether a whitespace character starts at s[i] and its
// length. ASCII is a table lookup; other bytes are decoded so Unicode spaces
// (U+00A0, U+2028...) separate tokens as strings.Fields would.
func spaceAt(s string, i int) (bool, int) {
	c := s[i]
	if c < utf8.RuneSelf {
		return class[c]&cSpace != 0, 1
	}
	r, n := utf8.DecodeRuneInString(s[i:])
	return unicode.IsSpace(r), n
}

// Fields splits s at whitespace exactly as the miner does; a template has as
// many fields as the messages of its cluster.
func Fields(s string) []string {
	var out []string
	i, n := 0, len(s)
	for i < n {
		for i < n {
			sp, w := spaceAt(s, i)
			if !sp {
				break
			}
			i += w
		}
		if i >= n {
			break
		}
		j := i
		for j < n {
			sp, w := spaceAt(s, j)
			if sp {
				break
			}
			j += w
		}
		out = append(out, s[i:j])
		i = j
	}
	return out
}

// NormalizeTemplate is the form SignatureID hashes, the one the
// log-parsing benchmarks compare templates by (loghub_score.py's norm): any
// <...> is <*>, a run of <*> separated only by spaces is one variable
// (followed by a space), and whitespace is single spaces. So templates of one
// event whose variable took one token here and three there ("0 bytes",
// "1143 bytes (1.11 KB)") get one signature.
func NormalizeTemplate(t string) string {
	// <...> -> <*>
	var b strings.Builder
	b.Grow(len(t) + 8)
	for i := 0; i < len(t); {
		if t[i] == '<' {
			j := i + 1
			for j < len(t) && t[j] != '<' && t[j] != '>' {
				j++
			}
			if j < len(t) && t[j] == '>' {
				b.WriteString(wildcard)
				i = j + 1
				continue
			}
		}
		b.WriteByte(t[i])
		i++
	}
	s := b.String()
	// (<*>\s*)+ -> "<*> "
	b.Reset()
	for i := 0; i < len(s); {
		if strings.HasPrefix(s[i:], wildcard) {
			i += len(wildcard)
			for {
				j := i
				for j < len(s) {
					sp, w := spaceAt(s, j)
					if !sp {
						break
					}
					j += w
				}
				if strings.HasPrefix(s[j:], wildcard) {
					i = j + len(wildcard)
					continue
				}
				i = j
				break
			}
			b.WriteString(wildcard + " ")
			continue
		}
		b.WriteByte(s[i])
		i++
	}
	return strings.Join(Fields(b.String()), " ")
}

// extractParams returns, for each <*> of tpl in order, the part of message it
// stands for. Tokens are aligned by position; inside a token the literal
// pieces around the <*> anchor the values. A token that does not fit gives
// its whole text to its first <*> and "" to the others, so the count always
// equals the number of <*> in the template.
func extractParams(tpl, message string) []string {
	tt := Fields(tpl)
	mt := Fields(message)
	var out []string
	for i, t := range tt {
		k := strings.Count(t, wildcard)
		if k == 0 {
			continue
		}
		var m string
		if i < len(mt) {
			m = mt[i]
		}
		if t == wildcard {
			out = append(out, m)
			continue
		}
		out = appendTokenParams(out, t, m, k)
	}
	return out
}

func appendTokenParams(out []string, t, m string, k int) []string {
	pieces := strings.Split(t, wildcard)
	start := len(out)
	fail := func() []string {
		out = out[:start]
		out = append(out, m)
		for j := 1; j < k; j++ {
			out = append(out, "")
		}
		return out
	}
	if !strings.HasPrefix(m, pieces[0]) {
		return fail()
	}
	pos := len(pieces[0])
	for j := 1; j <= k; j++ {
		p := pieces[j]
		rest := m[pos:]
		if j == k {
			if !strings.HasSuffix(rest, p) {
				return fail()
			}
			out = append(out, rest[:len(rest)-len(p)])
			break
		}
		idx := 0
		if p != "" {
			idx = strings.Index(rest, p)
			if idx < 0 {
				return fail()
			}
		}
		out = append(out, rest[:idx])
		pos += idx + len(p)
	}
	return out
}
