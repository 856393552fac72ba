package drain

import "strings"

// Masking: every whitespace-separated token of a message is rewritten into
// its "masked" form before mining, with <*> where a value of a usual variable
// shape sits (numbers, hex, ids, IPs, paths, URLs, durations, timestamps,
// key=value values, placeholders such as the redactor's <email>). It is one
// pass over the bytes of the token with a class table; no regexp.
//
// A token keeps its literal structure around the variables: "(uid=0)"
// becomes "(uid=<*>)", "10.0.0.1:8080" becomes "<*>:<*>", "core.2275"
// becomes "core.<*>". That keeps templates readable and lets messages that
// differ only in the literal part of a token fall into different groups.

const wildcard = "<*>"

// byte classes
const (
	cDigit = 1 << iota
	cAlpha
	cHex   // 0-9a-fA-F
	cDelim // splits a token into segments
	cOpen  // leading wrapper
	cClose // trailing wrapper
	cSpace
)

var class [256]uint8

// The class table is a constant computed at start-up; building it in a
// package-level var initialiser keeps it free of init() side effects.
var _ = func() int {
	for c := '0'; c <= '9'; c++ {
		class[c] |= cDigit | cHex
	}
	for c := 'a'; c <= 'z'; c++ {
		class[c] |= cAlpha
		class[c-'a'+'A'] |= cAlpha
	}
	for _, c := range "abcdefABCDEF" {
		class[c] |= cHex
	}
	for _, c := range ":=,;()[]{}@#/|<>\"'&?!+\\" {
		class[c] |= cDelim
	}
	for _, c := range "([{\"'<" {
		class[c] |= cOpen
	}
	for _, c := range ")]}\"',;:.!?>" {
		class[c] |= cClose
	}
	for _, c := range " \t\r\n\v\f" {
		class[c] |= cSpace
	}
	return 0
}()

// tokKind says what masking made of a token.
const (
	kLiteral uint8 = iota // no variable inside
	kVar                  // the whole token is a variable
	kPartial              // literal structure with variables inside
)

// maskToken appends the masked form of t to dst and says which kind it is.
func maskToken(dst []byte, t string) ([]byte, uint8) {
	n := len(t)
	if n == 0 {
		return dst, kLiteral
	}
	// Fast path: a plain word (letters, '-', '_', '.') has nothing to mask.
	var all uint8
	for i := 0; i < n; i++ {
		all |= class[t[i]]
	}
	if all&(cDigit|cDelim) == 0 || n == 1 && all&cDigit == 0 {
		if isDateWord(t) {
			return append(dst, wildcard...), kVar
		}
		return append(dst, t...), kLiteral
	}
	if isPlaceholder(t) {
		return append(dst, wildcard...), kVar
	}
	// Peel wrappers: "(", "[", quotes before; ")", "]", ",", ":", "." after.
	s, e := 0, n
	for s < e && class[t[s]]&cOpen != 0 && t[s] != '<' {
		s++
	}
	for e > s && class[t[e-1]]&cClose != 0 && t[e-1] != '>' {
		e--
	}
	// Closing wrappers that belong to the core ("f(x)" keeps its ")").
	if e < n && (t[n-1] == ')' || t[n-1] == ']' || t[n-1] == '}' || strings.ContainsAny(t[e:], ")]}")) {
		e = rebalance(t, s, e)
	}
	if s == e {
		// "()", "[]", '""': an empty value where others have one
		if n == 2 && (t == "()" || t == "[]" || t == "{}" || t == `""` || t == "''") {
			dst = append(dst, t[0])
			dst = append(dst, wildcard...)
			return append(dst, t[1]), kPartial
		}
		return append(dst, t...), kLiteral
	}
	core := t[s:e]
	start := len(dst)
	dst = append(dst, t[:s]...)
	var k uint8
	if wholeVar(core) {
		dst = append(dst, wildcard...)
		k = kVar
	} else {
		var changed bool
		dst, changed = maskSegments(dst, core)
		if !changed {
			dst = append(dst[:start], t...)
			return dst, kLiteral
		}
		k = kPartial
		if noLetters(dst[start+s:]) {
			// "#3#", "3:4", "1/2": punctuation around values is one value
			dst = append(dst[:start+s], wildcard...)
			k = kVar
		}
	}
	dst = append(dst, t[e:]...)
	if k == kVar && s == 0 && e == n {
		return dst, kVar
	}
	return dst, kPartial
}

func noLetters(b []byte) bool {
	for i := 0; i < len(b); i++ {
		if class[b[i]]&cAlpha != 0 {
			return false
		}
	}
	return true
}

// rebalance gives back to the core the closing brackets that close an
// opening bracket inside it: "mice.c(12)]:" peels "]:" but keeps ")".
func rebalance(t string, s, e int) int {
	depth := [3]int{}
	for i := s; i < e; i++ {
		switch t[i] {
		case '(':
			depth[0]++
		case ')':
			depth[0]--
		case '[':
			depth[1]++
		case ']':
			depth[1]--
		case '{':
			depth[2]++
		case '}':
			depth[2]--
		}
	}
	for e < len(t) {
		switch {
		case t[e] == ')' && depth[0] > 0:
			depth[0]--
		case t[e] == ']' && depth[1] > 0:
			depth[1]--
		case t[e] == '}' && depth[2] > 0:
			depth[2]--
		default:
			return e
		}
		e++
	}
	return e
}

// isPlaceholder: "<email>", "<ip>", "<*>", "<:NUM:>": a masked value already.
func isPlaceholder(t string) bool {
	n := len(t)
	if n < 3 || t[0] != '<' || t[n-1] != '>' {
		return false
	}
	for i := 1; i < n-1; i++ {
		if c := t[i]; c == '<' || c == '>' || class[c]&cSpace != 0 {
			return false
		}
	}
	return true
}

// wholeVar reports cores that are one value as a whole: URLs, paths,
// IPv6/MAC addresses, times of day, and anything of digits and dots.
func wholeVar(c string) bool {
	n := len(c)
	// URL: scheme://
	for i := 0; i+2 < n && i < 16; i++ {
		if c[i] == ':' {
			if c[i+1] == '/' && c[i+2] == '/' && i > 0 {
				return true
			}
			break
		}
		if class[c[i]]&cAlpha == 0 && c[i] != '+' && c[i] != '-' && c[i] != '.' {
			break
		}
	}
	// Unix path: /a/b, ./a, ~/a ; Windows path C:\ or \\server
	if c[0] == '/' && n > 1 && (class[c[1]]&cDigit == 0) {
		return true
	}
	if n > 2 && (c[0] == '.' || c[0] == '~') && c[1] == '/' {
		return true
	}
	if n > 2 && class[c[0]]&cAlpha != 0 && c[1] == ':' && c[2] == '\\' {
		return true
	}
	if n > 2 && c[0] == '\\' && c[1] == '\\' {
		return true
	}
	if hostPort(c) {
		return true
	}
	// hex and colons (IPv6, MAC, hh:mm:ss), with at least two colons;
	// digits, dots, colons, commas only (numbers, IPv4, times).
	colons, digits, hexOnly, numOnly := 0, 0, true, true
	for i := 0; i < n; i++ {
		ch := c[i]
		cl := class[ch]
		switch {
		case cl&cDigit != 0:
			digits++
		case ch == ':':
			colons++
		case cl&cHex != 0:
			numOnly = false
		case ch == '.' || ch == ',' || ch == '-' || ch == '+':
			hexOnly = false
		default:
			return false
		}
	}
	if digits == 0 {
		return false
	}
	if hexOnly && colons >= 2 {
		return true
	}
	return numOnly && colons == 0
}

// hostPort: "host.example.com:443", "10.0.0.1:8080", "/10.0.0.1" (Java's
// InetSocketAddress), "/10.0.0.1:50010": one address, one variable.
func hostPort(c string) bool {
	i := 0
	slash := false
	if c[0] == '/' {
		i, slash = 1, true
	}
	dots, digitsOnly := 0, true
	hs := i
	for i < len(c) && c[i] != ':' {
		ch := c[i]
		cl := class[ch]
		switch {
		case ch == '.':
			dots++
		case cl&cDigit != 0:
		case cl&cAlpha != 0 || ch == '-' || ch == '_':
			digitsOnly = false
		default:
			return false
		}
		i++
	}
	if i == hs || dots == 0 || c[i-1] == '.' {
		return false
	}
	if i == len(c) {
		return slash && digitsOnly && dots == 3
	}
	// port
	i++
	if i == len(c) || len(c)-i > 5 {
		return false
	}
	for ; i < len(c); i++ {
		if class[c[i]]&cDigit == 0 {
			return false
		}
	}
	return true
}

// maskSegments splits core at delimiters and masks segments holding a digit,
// and values after '='. It reports whether anything was masked.
func maskSegments(dst []byte, c string) ([]byte, bool) {
	changed := false
	n := len(c)
	i := 0
	afterEq := false
	for i < n {
		ch := c[i]
		if ch == '<' {
			// an embedded placeholder "<...>"
			j := i + 1
			for j < n && c[j] != '>' && c[j] != '<' && class[c[j]]&cSpace == 0 {
				j++
			}
			if j < n && c[j] == '>' && j > i+1 {
				dst = append(dst, wildcard...)
				changed = true
				i = j + 1
				afterEq = false
				continue
			}
		}
		if afterEq {
			// a key=value value runs to the next separator outside brackets
			if j := kvValueEnd(c, i); j > i {
				dst = append(dst, wildcard...)
				changed = true
				i = j
				afterEq = false
				continue
			}
		}
		if class[ch]&cDelim != 0 {
			dst = append(dst, ch)
			afterEq = ch == '='
			i++
			continue
		}
		j := i
		var cl uint8
		for j < n && class[c[j]]&cDelim == 0 {
			cl |= class[c[j]]
			j++
		}
		seg := c[i:j]
		if cl&cDigit != 0 && !versionedWord(seg) || (afterEq && j > i) || isDateWord(seg) {
			dst = append(dst, wildcard...)
			changed = true
		} else {
			dst = append(dst, seg...)
		}
		afterEq = false
		i = j
	}
	return dst, changed
}

// kvValueEnd is where the value that starts at c[i] (just after '=') ends.
func kvValueEnd(c string, i int) int {
	depth := 0
	j := i
	for ; j < len(c); j++ {
		switch c[j] {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			if depth == 0 {
				return j
			}
			depth--
		case ',', ';', '&', '"', '\'', '=':
			if depth == 0 {
				return j
			}
		}
	}
	return j
}

// versionedWord: letters and one final digit ("ssh2", "SOCKS5", "eth0",
// "IPv4", "tty2") name a thing, not a value.
func versionedWord(s string) bool {
	n := len(s)
	if n < 3 || class[s[n-1]]&cDigit == 0 {
		return false
	}
	for i := 0; i < n-1; i++ {
		if class[s[i]]&cAlpha == 0 {
			return false
		}
	}
	return true
}

// isDateWord: weekday and month abbreviations, parts of timestamps.
func isDateWord(t string) bool {
	if len(t) != 3 {
		return false
	}
	switch t {
	case "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun",
		"Jan", "Feb", "Mar", "Apr", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec":
		return true
	}
	return false
}
