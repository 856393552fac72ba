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
	cHigh // a byte of a multi-byte UTF-8 character (could be a Unicode space)
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
	for c := 0x80; c < 0x100; c++ {
		class[c] |= cHigh
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
	var all uint8
	for i := 0; i < n; i++ {
		all |= class[t[i]]
	}
	return maskClassed(dst, t, all)
}

// maskClassed is maskToken when the caller already has the OR of the byte
// classes of t (the tokenizer computes it while it looks for the token's end).
func maskClassed(dst []byte, t string, all uint8) ([]byte, uint8) {
	n := len(t)
	if all == cDigit|cHex {
		return append(dst, wildcard...), kVar // digits only: a number
	}
	// Fast path: a plain word (letters, '-', '_', '.') has nothing to mask.
	if all&(cDigit|cDelim) == 0 || n == 1 && all&cDigit == 0 {
		if isDateWord(t) || hexWord(t) {
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
	if numeric(c) {
		return true
	}
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
	if (c[0] == '/' || strings.IndexByte(c, ':') > 0 || strings.IndexByte(c, '/') > 0) && hostPort(c) {
		return true
	}
	return c[0] >= 'A' && c[0] <= 'Z' && protoVersion(c)
}

// numeric: hex and colons with at least two colons (IPv6, MAC, hh:mm:ss), or
// digits, dots, commas and signs only (numbers, IPv4, dates).
func numeric(c string) bool {
	colons, digits, hexOnly, numOnly := 0, 0, true, true
	for i := 0; i < len(c); i++ {
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
	dots, dashes, digits, digitsOnly := 0, 0, 0, true
	var upper, lower bool // in the current label: "clipTopAmount" is no host name
	hs := i
	for i < len(c) && c[i] != ':' {
		ch := c[i]
		cl := class[ch]
		if ch >= 'A' && ch <= 'Z' {
			upper = true
		} else if ch >= 'a' && ch <= 'z' {
			lower = true
		}
		if upper && lower {
			return false
		}
		switch {
		case ch == '.':
			dots++
			upper, lower = false, false
		case cl&cDigit != 0:
			digits++
		case ch == '/' && !slash && i > hs && dots+dashes+digits > 0:
			// "host-1/10.0.0.1:8030": Java's hostname/address form
			return i+1 < len(c) && class[c[i+1]]&cDigit != 0 && hostPort(c[i:])
		case cl&cAlpha != 0 || ch == '-' || ch == '_':
			digitsOnly = false
			if ch == '-' {
				dashes++
			}
		default:
			return false
		}
		i++
	}
	if i == hs || c[i-1] == '.' || c[i-1] == '-' {
		return false
	}
	if i == len(c) {
		return slash && digitsOnly && dots == 3
	}
	// a port; a name without dots needs a dash or a digit to be a host
	// ("msra-sa-41:9000"), not a key ("Floor:240")
	if dots == 0 && (digitsOnly || dashes+digits == 0) {
		return false
	}
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

// protoVersion: "HTTP/1.1", "SSH-2.0", "TLSv1.2" as a whole: which version
// a client speaks is a value of the request, not part of the event.
func protoVersion(c string) bool {
	i := 0
	for i < len(c) && class[c[i]]&cAlpha != 0 && c[i] >= 'A' && c[i] <= 'Z' {
		i++
	}
	if i < 3 || i+2 > len(c) || c[i] != '/' && c[i] != '-' && c[i] != 'v' {
		return false
	}
	i++
	dot := false
	for ; i < len(c); i++ {
		switch {
		case class[c[i]]&cDigit != 0:
		case c[i] == '.':
			dot = true
		default:
			return false
		}
	}
	return dot || c[len(c)-1] >= '0' && c[len(c)-1] <= '9' && c[i-2] == '/'
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
		if afterEq && (ch == '"' || ch == '\'') {
			// key="quoted value": the value is the quoted part; an
			// unclosed quote goes on in the next tokens (the tokenizer
			// sees the "<*> at the end and masks them)
			dst = append(dst, ch)
			dst = append(dst, wildcard...)
			changed = true
			if k := strings.IndexByte(c[i+1:], ch); k >= 0 {
				dst = append(dst, ch)
				i += k + 2
			} else {
				i = n
			}
			afterEq = false
			continue
		}
		if afterEq {
			// a key=value value runs to the next separator outside brackets
			if j := kvValueEnd(c, i); j > i && !plainWord(c[i:j]) {
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
		if ch == '.' && i+1 < n && c[i+1] == '.' {
			// a run of dots is a separator: "instruction......0"
			j := i
			for j < n && c[j] == '.' {
				j++
			}
			dst = append(dst, c[i:j]...)
			i = j
			afterEq = false
			continue
		}
		j := i
		var cl uint8
		for j < n && class[c[j]]&cDelim == 0 && !(c[j] == '.' && j+1 < n && c[j+1] == '.') {
			cl |= class[c[j]]
			j++
		}
		seg := c[i:j]
		switch {
		case j < n && c[j] == '=' && cl&cAlpha != 0:
			// a key ("r24=") names the value, it is not one
			dst = append(dst, seg...)
		case cl&cDigit != 0 && !versionedWord(seg) || (afterEq && j > i && !plainWord(seg)) || isDateWord(seg) || hexWord(seg):
			if p := wordPrefix(seg); p > 0 && !afterEq {
				// "node-148", "jetty-6.1.26", "BP-1088...": the word stays
				dst = append(dst, seg[:p]...)
			}
			dst = append(dst, wildcard...)
			changed = true
		default:
			dst = append(dst, seg...)
		}
		afterEq = false
		i = j
	}
	return dst, changed
}

// wordPrefix is the length of "word-" at the start of seg when a value with
// a digit follows: letters only (at least two), then '-'.
func wordPrefix(seg string) int {
	i := 0
	for i < len(seg) && class[seg[i]]&cAlpha != 0 {
		i++
	}
	if i < 2 || i+1 >= len(seg) || seg[i] != '-' {
		return 0
	}
	for j := i + 1; j < len(seg); j++ {
		if class[seg[j]]&cDigit != 0 {
			return i + 1
		}
	}
	return 0
}

// plainWord: letters only, as a key=value value ("tty=ssh", "user=root")
// it stays literal; Refine turns it into <*> when it takes many values.
func plainWord(s string) bool {
	for i := 0; i < len(s); i++ {
		if class[s[i]]&cAlpha == 0 {
			return false
		}
	}
	return !isDateWord(s) && !hexWord(s)
}

// hexWord: eight or more hex letters ("ffffffff", "deadbeef") are a value
// even without a digit.
func hexWord(s string) bool {
	if len(s) < 8 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if class[s[i]]&cHex == 0 {
			return false
		}
	}
	return true
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

// versionedWord: a word with one digit in it ("ssh2", "SOCKS5", "eth0",
// "IPv4", "Slf4jLogger", "jk2_init") names a thing, not a value.
func versionedWord(s string) bool {
	// letters, one digit, then letters or '_' ("ssh2", "jk2_init",
	// "Slf4jLogger"); not "broadcast_9" or "Thunderbird_A8" (numbered things)
	n := len(s)
	i := 0
	for i < n && class[s[i]]&cAlpha != 0 {
		i++
	}
	if i < 2 || i >= n || class[s[i]]&cDigit == 0 {
		return false
	}
	for i++; i < n; i++ {
		if class[s[i]]&cAlpha == 0 && s[i] != '_' {
			return false
		}
	}
	return n >= 3
}

// isDateWord: weekday and month abbreviations, parts of timestamps.
// Booleans and nulls are values too ("ret:false", "ws=null", "opt-in: False").
func isDateWord(t string) bool {
	if len(t) < 3 || len(t) > 5 {
		return false
	}
	switch t {
	case "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun",
		"Jan", "Feb", "Mar", "Apr", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
		"true", "false", "True", "False", "TRUE", "FALSE", "null", "NULL", "nil", "None":
		return true
	}
	return false
}
