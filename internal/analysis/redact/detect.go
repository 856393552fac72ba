package redact

import (
	"net/netip"
	"strings"
)

// findPEM replaces a private key block, BEGIN to END line (or to the end of
// the text when the END line is missing: a record cut short).
func (f *finder) findPEM(s string) {
	off := 0
	for {
		i := strings.Index(s[off:], "-----BEGIN ")
		if i < 0 {
			return
		}
		start := off + i
		hdrEnd := strings.Index(s[start+11:], "-----")
		if hdrEnd < 0 || hdrEnd > 40 {
			off = start + 11
			continue
		}
		label := s[start+11 : start+11+hdrEnd]
		if !strings.HasSuffix(label, "PRIVATE KEY") && !strings.HasSuffix(label, "PRIVATE KEY BLOCK") {
			off = start + 11
			continue
		}
		end := len(s)
		endMark := "-----END " + label + "-----"
		if j := strings.Index(s[start:], endMark); j >= 0 {
			end = start + j + len(endMark)
		}
		f.add(span{start, end, Secret})
		off = end
		if off >= len(s) {
			return
		}
	}
}

// findURLCreds replaces the password of scheme://user:password@host.
func (f *finder) findURLCreds(s string) {
	off := 0
	for {
		i := strings.Index(s[off:], "://")
		if i < 0 {
			return
		}
		u := off + i + 3
		off = u
		// userinfo runs to '@' before any '/', space or end.
		j := u
		colon := -1
		for j < len(s) && j-u < 256 {
			c := s[j]
			if c == '@' || c == '/' || c == ' ' || c == '\t' || c == '\n' || c == '"' || c == '\'' || c == '?' || c == '#' {
				break
			}
			if c == ':' && colon < 0 {
				colon = j
			}
			j++
		}
		if j >= len(s) || s[j] != '@' || colon < 0 || colon+1 >= j {
			continue
		}
		// An '@' after the real one means the password held it: take the last
		// '@' before the host.
		if v := s[colon+1 : j]; !isPlaceholder(v) {
			f.add(span{colon + 1, j, Secret})
		}
	}
}

// Common file extensions, which make "name@file.py" no email.
var notTLD = map[string]bool{
	"py": true, "go": true, "java": true, "js": true, "ts": true, "rb": true, "cc": true, "cpp": true,
	"so": true, "log": true, "txt": true, "xml": true, "json": true, "conf": true, "sh": true, "dll": true,
	"exe": true, "class": true, "jar": true, "yaml": true, "yml": true, "php": true, "html": true, "kt": true,
}

// findEmails finds local@domain.tld around every '@'.
func (f *finder) findEmails(s string) {
	off := 0
	for {
		i := strings.IndexByte(s[off:], '@')
		if i < 0 {
			return
		}
		at := off + i
		off = at + 1
		a := at
		for a > 0 && isLocalChar(s[a-1]) && at-a < 64 {
			a--
		}
		for a < at && (s[a] == '.' || s[a] == '-') {
			a++
		}
		if a == at {
			continue
		}
		b := at + 1
		lastDot := -1
		for b < len(s) && (isAlnum(s[b]) || s[b] == '-' || s[b] == '.') && b-at < 255 {
			if s[b] == '.' {
				lastDot = b
			}
			b++
		}
		for b > at+1 && s[b-1] == '.' { // a sentence's full stop
			b--
			if lastDot == b {
				lastDot = strings.LastIndexByte(s[at+1:b], '.')
				if lastDot >= 0 {
					lastDot += at + 1
				}
			}
		}
		if lastDot < 0 || lastDot <= at+1 {
			continue
		}
		tld := s[lastDot+1 : b]
		if len(tld) < 2 || !allLetters(tld) || notTLD[strings.ToLower(tld)] {
			continue
		}
		if f.overlaps(a, b) {
			// "0@0.AA%@0.AA": an address glued to the one just found. One
			// placeholder covers both, or a second pass would find the rest
			// ("%@0.AA") as an address of its own.
			if n := len(f.own); n > 0 && f.own[n-1].kind == Email && a < f.own[n-1].end && f.own[n-1].start < b {
				f.own[n-1].end = max(f.own[n-1].end, b)
				off = b
			}
			continue
		}
		f.add(span{a, b, Email})
		off = b
	}
}

func isLocalChar(c byte) bool {
	return isAlnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-'
}

func allLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// keyShapes are API keys recognised by their prefix and what follows it.
var keyShapes = []struct {
	prefix string
	min    int // characters after the prefix
	max    int
	chars  func(byte) bool
}{
	{"AKIA", 16, 16, upperDigit}, // AWS access key id
	{"ASIA", 16, 16, upperDigit}, // AWS temporary access key id
	{"ghp_", 36, 255, isAlnum},   // GitHub tokens
	{"gho_", 36, 255, isAlnum},
	{"ghu_", 36, 255, isAlnum},
	{"ghs_", 36, 255, isAlnum},
	{"ghr_", 36, 255, isAlnum},
	{"github_pat_", 22, 255, wordChar},
	{"xoxb-", 10, 255, slackChar}, // Slack
	{"xoxp-", 10, 255, slackChar},
	{"xoxa-", 10, 255, slackChar},
	{"xoxr-", 10, 255, slackChar},
	{"xoxs-", 10, 255, slackChar},
	{"xoxe-", 10, 255, slackChar},
	{"sk_live_", 16, 255, isAlnum}, // Stripe
	{"rk_live_", 16, 255, isAlnum},
	{"sk_test_", 16, 255, isAlnum},
	{"AIza", 35, 35, b64urlChar}, // Google API key
	{"glpat-", 20, 255, b64urlChar},
	{"npm_", 36, 36, isAlnum},
}

func upperDigit(c byte) bool { return ('A' <= c && c <= 'Z') || isDigit(c) }
func wordChar(c byte) bool   { return isAlnum(c) || c == '_' }
func slackChar(c byte) bool  { return isAlnum(c) || c == '-' }
func b64urlChar(c byte) bool { return isAlnum(c) || c == '_' || c == '-' }

// tryKey checks for an API key of a well-known shape, or a JWT, starting
// at s[i] (a word boundary), and returns its end.
func tryKey(s string, i int) (int, bool) {
	c := s[i]
	if c == 'e' {
		if strings.HasPrefix(s[i:], "eyJ") {
			return jwtEnd(s, i)
		}
		return 0, false
	}
	if i+4 > len(s) {
		return 0, false
	}
	switch c1 := s[i+1]; c {
	case 'A':
		if c1 != 'K' && c1 != 'S' && c1 != 'I' {
			return 0, false
		}
	case 'g':
		if c1 != 'h' && c1 != 'i' && c1 != 'l' {
			return 0, false
		}
	case 'x':
		if c1 != 'o' {
			return 0, false
		}
	case 's', 'r':
		if c1 != 'k' {
			return 0, false
		}
	case 'n':
		if c1 != 'p' {
			return 0, false
		}
	default:
		return 0, false
	}
	for _, k := range keyShapes {
		if k.prefix[0] != c || !strings.HasPrefix(s[i:], k.prefix) {
			continue
		}
		off := i + len(k.prefix)
		j := off
		for j < len(s) && k.chars(s[j]) && j-off <= k.max {
			j++
		}
		if n := j - off; n < k.min || n > k.max {
			continue
		}
		if j < len(s) && (isAlnum(s[j]) || s[j] == '_') {
			continue
		}
		return j, true
	}
	return 0, false
}

func jwtEnd(s string, i int) (int, bool) {
	parts := 0
	for parts < 3 {
		j := i
		for j < len(s) && b64urlChar(s[j]) {
			j++
		}
		if parts < 2 && j-i < 8 {
			return 0, false
		}
		parts++
		i = j
		if parts < 3 {
			if i >= len(s) || s[i] != '.' {
				return 0, false
			}
			i++
		}
	}
	return i, true
}

// findBearer replaces the token after "Bearer " wherever it stands.
func (f *finder) findBearer(s string) {
	off := 0
	for {
		i := indexFold(s[off:], "bearer ")
		if i < 0 {
			return
		}
		start := off + i + 7
		off = start
		if b := start - 7; b > 0 && isAlnum(s[b-1]) {
			continue
		}
		j := start
		for j < len(s) && isTokenChar(s[j]) {
			j++
		}
		if j-start < 8 {
			continue
		}
		if !f.overlaps(start, j) {
			f.add(span{start, j, Secret})
		}
		off = j
	}
}

func isTokenChar(c byte) bool {
	return isAlnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '='
}

// indexFold is strings.Index for an ASCII lower-case needle, ignoring case.
func indexFold(s, needle string) int {
	n := len(needle)
	for i := 0; i+n <= len(s); i++ {
		if lower(s[i]) != needle[0] {
			continue
		}
		k := 1
		for k < n && lower(s[i+k]) == needle[k] {
			k++
		}
		if k == n {
			return i
		}
	}
	return -1
}

// scanPairsAndCards is one pass over s for the two detectors that can
// start anywhere: key=value / key: value pairs whose key names a secret, and
// card numbers.
// Byte classes of the first pass.
const (
	clBoring = iota
	clDash
	clAt
	clSep
	clCardDigit // 2-6: a card may start here
	clWord      // other letters and digits
	clWordKey   // a letter an API key, a JWT or "Bearer" can start with
)

var byteClass = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		switch {
		case c == '-':
			t[c] = clDash
		case c == '@':
			t[c] = clAt
		case c == '=' || c == ':':
			t[c] = clSep
		case '2' <= c && c <= '6':
			t[c] = clCardDigit
		case c == 'A' || c == 'g' || c == 'x' || c == 's' || c == 'r' || c == 'n' || c == 'e' || c == 'B' || c == 'b':
			t[c] = clWordKey
		case ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || c == '_':
			t[c] = clWord
		}
	}
	return t
}()

// wordChar: letters, digits and '_' (a word's rest is skipped over them).
func isWordByte(c byte) bool { return byteClass[c] >= clCardDigit }

func (f *finder) scanPairsAndCards(s string) {
	n := len(s)
	for i := 0; i < n; i++ {
		cl := byteClass[s[i]]
		if cl == clBoring {
			continue
		}
		c := s[i]
		switch cl {
		case clDash:
			if !f.pem && i+11 <= n && s[i:i+11] == "-----BEGIN " {
				f.pem = true
			}
		case clAt:
			f.at = true
		case clSep:
			if i == 0 {
				continue
			}
			p := s[i-1]
			if !(isAlnum(p) || p == '"' || p == '\'' || p == '_' || p == ' ') || isDigit(p) {
				continue
			}
			if q := keyLast(s, i); q == 0 {
				continue // no secret key ends like this one
			}
			// A pair's value wins over what was found inside it (the merge
			// keeps the longest span starting first), so that a second pass
			// finds nothing more.
			if vs, ve, ok := secretPair(s, i); ok {
				f.add(span{vs, ve, Secret})
				i = ve - 1
			}
		case clCardDigit:
			if i > 0 && !cardBoundaryBefore(s, i) {
				for i+1 < n && isWordByte(s[i+1]) {
					i++
				}
				continue
			}
			if cardStart(s, i) {
				if end, ok := card(s, i); ok {
					if !f.overlaps(i, end) {
						f.add(span{i, end, Card})
					}
					i = end - 1
					continue
				}
			}
			for i+1 < n && isDigit(s[i+1]) {
				i++
			}
		default: // a word: perhaps an API key, a JWT or "Bearer"
			if cl == clWordKey && (i == 0 || !(isWordByte(s[i-1]) || s[i-1] == '-')) {
				if end, ok := tryKey(s, i); ok {
					f.add(span{i, end, Secret})
					i = end - 1
					continue
				}
				if (c == 'B' || c == 'b') && i+7 <= n && indexFold(s[i:i+7], "bearer ") == 0 {
					f.bearer = true
				}
			}
			// Skip the word whole, so that digits inside ids and hex never
			// start a card.
			for i+1 < n && isWordByte(s[i+1]) {
				i++
			}
		}
	}
}

// secretPair looks at the key before the separator at s[sep] and, when it
// names a secret, returns the value's span.
func secretPair(s string, sep int) (int, int, bool) {
	k := sep
	for k > 0 && s[k-1] == ' ' && sep-k < 2 {
		k--
	}
	if k > 0 && (s[k-1] == '"' || s[k-1] == '\'') { // "password": "..."
		k--
	}
	e := k
	for k > 0 && (isAlnum(s[k-1]) || s[k-1] == '_' || s[k-1] == '-' || s[k-1] == '.') && e-k < 40 {
		k--
	}
	if k == e || (k > 0 && isAlnum(s[k-1])) {
		return 0, 0, false
	}
	if !secretKey(s[k:e]) {
		return 0, 0, false
	}
	// The value.
	v := sep + 1
	if sep+1 < len(s) && s[sep] == ':' && s[sep+1] == '=' { // key:=value
		v++
	}
	for v < len(s) && (s[v] == ' ' || s[v] == '\t') && v-sep < 4 {
		v++
	}
	if v >= len(s) {
		return 0, 0, false
	}
	if q := s[v]; q == '"' || q == '\'' {
		j := v + 1
		for j < len(s) && s[j] != q && s[j] != '\n' {
			if s[j] == '\\' {
				j++
			}
			j++
		}
		if j > len(s) {
			j = len(s)
		}
		val := s[v+1 : j]
		val, off := skipAuthScheme(val)
		if !redactable(val, s[k:e]) {
			return 0, 0, false
		}
		return v + 1 + off, j, true
	}
	j := v
	for j < len(s) && !isValueEnd(s[j]) {
		j++
	}
	val, off := s[v:j], 0
	if sch, ok := authScheme(val); ok && j < len(s) && s[j] == ' ' {
		// "Authorization: Bearer abc": the credential is the next word
		off = len(sch) + 1
		j++
		for j < len(s) && !isValueEnd(s[j]) {
			j++
		}
		val = s[v+off : j]
	}
	if !redactable(val, s[k:e]) {
		return 0, 0, false
	}
	return v + off, j, true
}

func isValueEnd(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', ',', ';', '&', '"', '\'', ')', '}', ']':
		return true
	}
	return false
}

func authScheme(v string) (string, bool) {
	for _, sch := range [...]string{"Bearer", "Basic", "Token", "Digest", "Negotiate", "NTLM", "bearer", "basic", "token"} {
		if v == sch {
			return sch, true
		}
	}
	return "", false
}

func skipAuthScheme(v string) (string, int) {
	if sp := strings.IndexByte(v, ' '); sp > 0 {
		if _, ok := authScheme(v[:sp]); ok {
			return v[sp+1:], sp + 1
		}
	}
	return v, 0
}

// redactable rules out values that are no secret: empty, already a
// placeholder, a masked value, a boolean or null; and for "token" keys a
// plain number (token counts).
func redactable(v, key string) bool {
	if v == "" || isPlaceholder(v) {
		return false
	}
	switch strings.ToLower(v) {
	case "null", "nil", "none", "true", "false", "undefined", "redacted", "[redacted]", "[filtered]":
		return false
	}
	if strings.Trim(v, "*") == "" || (len(v) >= 4 && strings.Trim(v, "xX") == "") {
		return false // ****** or xxxx: masked already
	}
	if strings.IndexByte(v, '{') >= 0 || dottedIdent(v) {
		return false // an object's dump: token=Token{a64f992 ...}, android.os.BinderProxy@2bd79ce
	}
	if allDigits(v) && strings.HasSuffix(strings.ToLower(key), "token") {
		return false
	}
	return true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

// secretKey reports a key that names a secret: password, passwd, secret,
// token, api_key, access_key, private_key, credentials, passphrase,
// authorization (case and the separators - _ . ignored; "db_password",
// "client_secret", "access_token" count).
func secretKey(key string) bool {
	if len(key) < 3 {
		return false
	}
	switch key[len(key)-1] | 0x20 { // every key below ends in one of these
	case 'd', 't', 'n', 'y', 'e', 's', 'l':
	default:
		return false
	}
	var buf [40]byte
	n := 0
	for i := 0; i < len(key) && n < len(buf); i++ {
		c := key[i]
		if c == '-' || c == '_' || c == '.' {
			continue
		}
		buf[n] = lower(c)
		n++
	}
	k := string(buf[:n])
	switch k {
	case "pwd", "pass", "authorization", "proxyauthorization", "cookie", "setcookie":
		return true
	}
	for _, suf := range [...]string{"password", "passwd", "secret", "token", "apikey", "accesskey", "secretkey",
		"privatekey", "passphrase", "credentials", "credential", "signature", "sessionkey"} {
		if strings.HasSuffix(k, suf) {
			return true
		}
	}
	return false
}

// cardBoundaryBefore: a card number stands alone, not inside an id
// (blk_-123...), a path, a version or a time.
func cardBoundaryBefore(s string, i int) bool {
	p := s[i-1]
	if isAlnum(p) {
		return false
	}
	switch p {
	case ':': // "pan:4111..." but not a time's "12:34"
		return i >= 2 && ('a' <= s[i-2]|0x20 && s[i-2]|0x20 <= 'z')
	case '_', '-', '.', '/', '+', '@', '#', '$', '\\', '%':
		return false
	}
	return true
}

// card reads a card number at s[i:]: 13-19 digits, contiguous or in groups
// of 4 (or Amex's 4-6-5) split by one space or dash, standing alone, and
// passing the Luhn check.
func card(s string, i int) (int, bool) {
	var digits [19]byte
	n := 0
	j := i
	var sep byte
	groups := [5]int{}
	g := 0
	for j < len(s) {
		c := s[j]
		if isDigit(c) {
			if n == len(digits) {
				return 0, false // longer than any card
			}
			digits[n] = c - '0'
			n++
			groups[g]++
			j++
			continue
		}
		// A separator only after a group of 4 (or Amex's second group of 6):
		// a longer run is a number of its own, whatever follows.
		if (c == ' ' || c == '-') && j+1 < len(s) && isDigit(s[j+1]) && (sep == 0 || sep == c) && g < 4 &&
			(groups[g] == 4 || (g == 1 && groups[g] == 6)) {
			sep = c
			g++
			j++
			continue
		}
		break
	}
	if n < 13 {
		return 0, false
	}
	if j < len(s) && (isAlnum(s[j]) || s[j] == '_' || (s[j] == '.' && j+1 < len(s) && isDigit(s[j+1]))) {
		return 0, false
	}
	if sep != 0 {
		ok := false
		switch g {
		case 2:
			ok = groups[0] == 4 && groups[1] == 6 && (groups[2] == 5 || groups[2] == 4)
		case 3, 4:
			ok = true
			for k := 0; k < g; k++ {
				if groups[k] != 4 {
					ok = false
				}
			}
			ok = ok && groups[g] >= 1 && groups[g] <= 4
		}
		if !ok {
			return 0, false
		}
	}
	if !cardPrefix(digits[:n]) {
		return 0, false
	}
	// Luhn
	sum := 0
	for k := 0; k < n; k++ {
		d := int(digits[n-1-k])
		if k%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	if sum%10 != 0 {
		return 0, false
	}
	return j, true
}

// cardPrefix checks the issuer prefix against the length: Visa 4 (13, 16,
// 19), Mastercard 51-55 and 2221-2720 (16), Amex 34/37 (15), Diners 36/38/
// 300-305 (14), Discover 6011/644-649/65, JCB 3528-3589, UnionPay 62
// (16-19). A random id of 13-19 digits rarely fits both this and Luhn.
func cardPrefix(d []byte) bool {
	n := len(d)
	p2 := int(d[0])*10 + int(d[1])
	p4 := p2*100 + int(d[2])*10 + int(d[3])
	switch {
	case d[0] == 4:
		return n == 13 || n == 16 || n == 19
	case p2 >= 51 && p2 <= 55, p4 >= 2221 && p4 <= 2720:
		return n == 16
	case p2 == 34 || p2 == 37:
		return n == 15
	case p2 == 36 || p2 == 38 || (p4 >= 3000 && p4 <= 3059):
		return n == 14
	case p4 == 6011 || p2 == 65 || (p4 >= 6440 && p4 <= 6499), p4 >= 3528 && p4 <= 3589, p2 == 62:
		return n >= 16 && n <= 19
	}
	return false
}

// findIPs finds IPv4 and IPv6 addresses (Config.IPs).
func (f *finder) findIPs(s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(isHex(c) || c == ':') {
			continue
		}
		if i > 0 && (isAlnum(s[i-1]) || s[i-1] == '.' || s[i-1] == '_' || s[i-1] == '~' || s[i-1] == '-' || s[i-1] == '>' || s[i-1] == ':') {
			for i+1 < len(s) && (isAlnum(s[i+1]) || s[i+1] == '.' || s[i+1] == '_') {
				i++
			}
			continue
		}
		j := i
		for j < len(s) && (isHex(s[j]) || s[j] == ':' || s[j] == '.') && j-i < 45 {
			j++
		}
		cand := trimRight2(s[i:j], '.', ':')
		end := i + len(cand)
		dots := strings.Count(cand, ".")
		colons := strings.Count(cand, ":")
		v4 := cand
		if k := strings.IndexByte(cand, ':'); k >= 0 {
			v4 = cand[:k] // a port (or anything) after the address
		}
		switch {
		case strings.Count(v4, ".") == 3 && (colons == 0 || len(v4) < len(cand)) && !strings.Contains(v4, ".."):
			cand, end = v4, i+len(v4)
			if end < len(s) && (isAlnum(s[end]) || s[end] == '_') {
				break
			}
			// "0.0.0.0.:<hostname>": dots that run on into a port or a longer
			// token make a fifth label, not an address (a sentence's full stop
			// after an address is followed by a space or the end).
			if k := end; k < len(s) && s[k] == '.' {
				for k < len(s) && s[k] == '.' {
					k++
				}
				if k < len(s) && (s[k] == ':' || isAlnum(s[k]) || s[k] == '<') {
					break
				}
			}
			if a, err := netip.ParseAddr(cand); err == nil && a.Is4() && !versionBefore(s, i) {
				f.addFree(i, end, IP)
			}
		case colons >= 2 && dots == 0 || (colons >= 2 && dots == 3 && strings.LastIndexByte(cand, ':') < strings.IndexByte(cand, '.')):
			if end < len(s) && (isAlnum(s[end]) || s[end] == '_') {
				break
			}
			if strings.IndexAny(cand, "0123456789abcdefABCDEF") < 0 {
				break // "::" and ":::" are C++ and Perl, not addresses
			}
			// "::0:<hostname>", "::0.:<hostname>": the colons and dots run on
			// into a longer token (here one this redactor wrote), so no
			// address ends here; matching it would make a second pass change
			// what the first one left.
			k := end
			for k < len(s) && (s[k] == ':' || s[k] == '.') {
				k++
			}
			if k > end && k < len(s) && (isAlnum(s[k]) || s[k] == '<') {
				break
			}
			if a, err := netip.ParseAddr(cand); err == nil && a.Is6() {
				f.addFree(i, end, IP)
			}
		}
		i = j
	}
	return
}

func (f *finder) addFree(start, end int, k Kind) {
	if !f.overlaps(start, end) {
		f.add(span{start, end, k})
	}
}

func isHex(c byte) bool {
	return isDigit(c) || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

// versionBefore: "version 1.2.3.4" and "v1.2.3.4" are versions, not addresses.
func versionBefore(s string, i int) bool {
	w := s[max(0, i-9):i]
	w = strings.ToLower(w)
	return strings.HasSuffix(w, "version ") || strings.HasSuffix(w, "ver ") || strings.HasSuffix(w, "v")
}

// hostTLDs are the last labels that make a dotted name a host name; a
// name whose first label is one of them is a Java package (com.apple.foo).
var hostTLDs = map[string]bool{
	"com": true, "net": true, "org": true, "io": true, "edu": true, "gov": true, "mil": true, "int": true,
	"local": true, "internal": true, "lan": true, "corp": true, "cloud": true, "dev": true, "app": true,
	"localdomain": true, "intranet": true, "home": true, "uk": true, "de": true, "fr": true, "nl": true,
	"hk": true, "cn": true, "jp": true, "kr": true, "in": true, "au": true, "ca": true, "us": true, "eu": true,
	"ru": true, "br": true, "it": true, "es": true, "ch": true, "se": true, "no": true, "fi": true, "dk": true,
	"pl": true, "be": true, "at": true, "ie": true, "sg": true, "tw": true, "info": true, "biz": true, "co": true,
}

// findHostnames finds dotted host names ending in a known top-level or
// private domain (Config.Hostnames).
func (f *finder) findHostnames(s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) {
			continue
		}
		if i > 0 && (isAlnum(s[i-1]) || s[i-1] == '-' || s[i-1] == '.' || s[i-1] == '_' || s[i-1] == '@' || s[i-1] == '>' || s[i-1] == '/' && i > 1 && s[i-2] != '/') {
			for i+1 < len(s) && (isAlnum(s[i+1]) || s[i+1] == '-' || s[i+1] == '.' || s[i+1] == '_') {
				i++
			}
			continue
		}
		j := i
		dots := 0
		for j < len(s) && (isAlnum(s[j]) || s[j] == '-' || s[j] == '.') {
			if s[j] == '.' {
				dots++
			}
			j++
		}
		name := trimRight2(s[i:j], '.', '-')
		next := i + len(name)
		if dots == 0 || (next < len(s) && (s[next] == '_' || s[next] == '(')) {
			i = j
			continue
		}
		dot := strings.IndexByte(name, '.')
		if dot <= 0 {
			i = j
			continue
		}
		first := name[:dot]
		last := strings.ToLower(name[strings.LastIndexByte(name, '.')+1:])
		if last != "" && hostTLDs[last] && !hostTLDs[strings.ToLower(first)] && first != "" && !allDigits(last) {
			f.addFree(i, next, Hostname)
		}
		i = j
	}
	return
}

// dottedIdent is a class or package path: "android.os.BinderProxy@2bd79ce",
// "com.apple.xpc.activity/4505".
func dottedIdent(v string) bool {
	d := strings.IndexByte(v, '.')
	if d < 2 || strings.Count(v, ".") < 2 || d+1 >= len(v) || !allLetters(v[:d]) || !allLetters(v[d+1:d+2]) {
		return false
	}
	return strings.ToLower(v[:d]) == v[:d]
}

// keyLast returns the last letter of the key before the separator at
// s[sep] when it is one a secret key can end with, else 0: most '=' and ':'
// of a log line are rejected here, before the key is read.
func keyLast(s string, sep int) byte {
	k := sep
	for k > 0 && k > sep-3 && (s[k-1] == ' ' || s[k-1] == '"' || s[k-1] == '\'') {
		k--
	}
	if k == 0 {
		return 0
	}
	switch c := s[k-1] | 0x20; c {
	case 'd', 't', 'n', 'y', 'e', 's', 'l':
		return c
	}
	return 0
}

// cardStart: every card number opens with four digits, then a digit or a
// separator and four more digits.
func cardStart(s string, i int) bool {
	if i+13 > len(s) {
		return false
	}
	for k := i; k < i+4; k++ {
		if !isDigit(s[k]) {
			return false
		}
	}
	c := s[i+4]
	if isDigit(c) {
		return true
	}
	if c != ' ' && c != '-' {
		return false
	}
	for k := i + 5; k < i+9; k++ {
		if !isDigit(s[k]) {
			return false
		}
	}
	return true
}

// trimRight2 is strings.TrimRight with a two-byte cutset, without building
// the set on every call.
func trimRight2(s string, a, b byte) string {
	for len(s) > 0 && (s[len(s)-1] == a || s[len(s)-1] == b) {
		s = s[:len(s)-1]
	}
	return s
}
