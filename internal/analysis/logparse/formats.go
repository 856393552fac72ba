package logparse

import (
	"strings"
)

// parseWith runs the parser of format f on s.
func parseWith(r *Reader, f Format, s string, p *parsed) bool {
	switch f {
	case FormatJSON:
		return parseJSON(s, p)
	case FormatLogfmt:
		return parseLogfmt(s, p)
	case FormatSyslog3164:
		return parseSyslog3164(s, p)
	case FormatSyslog5424:
		return parseSyslog5424(s, p)
	case FormatAccess:
		return parseAccess(s, p)
	case FormatApacheError:
		return parseApacheError(s, p)
	case FormatNginxError:
		return parseNginxError(s, p)
	case FormatWindowsCSV:
		if r == nil || r.csv == nil {
			return false
		}
		return r.csv.parse(s, p)
	case FormatWindowsXML:
		return parseEventXML(s, p)
	case FormatW3C:
		if r == nil {
			return false
		}
		return r.w3c.parse(s, p)
	case FormatKlog:
		return parseKlog(s, p)
	case FormatPostgres:
		return parsePostgres(s, p)
	case FormatRAS:
		return parseRAS(s, p)
	case FormatNodeEvent:
		return parseNodeEvent(s, p)
	case FormatHeader:
		return parseHeader(s, p)
	}
	return false
}

// detectOrder is the order formats are tried in when detecting; on a tie
// the earlier, more specific one wins (a syslog line also has a generic
// header).
var detectOrder = [...]Format{
	FormatWindowsXML, FormatJSON, FormatSyslog5424, FormatKlog, FormatAccess, FormatApacheError,
	FormatNginxError, FormatPostgres, FormatRAS, FormatNodeEvent, FormatSyslog3164, FormatLogfmt, FormatHeader,
}

// detect picks the format that parses most of the file's first lines.
func detect(lines [][]byte) (Format, *csvLayout, *w3cLayout) {
	for _, l := range lines {
		if len(l) > 0 && l[0] != '#' {
			break
		}
		if lay := w3cFields(string(l)); lay != nil {
			return FormatW3C, nil, lay
		}
	}
	var sample []string
	for _, l := range lines {
		// Frames and continuation lines say nothing of the format.
		if len(l) > 0 && l[0] != ' ' && l[0] != '\t' && !traceMarker(string(l)) {
			sample = append(sample, string(l))
		}
	}
	if len(sample) == 0 {
		return FormatPlain, nil, nil
	}
	first := sample[0]
	if strings.HasPrefix(first, "#TYPE") && len(sample) > 1 {
		first = sample[1] // PowerShell's Export-Csv: the header comes second
	}
	if lay := csvHeader(first); lay != nil {
		return FormatWindowsCSV, lay, nil
	}
	best, bestN := FormatPlain, 0
	var p parsed
	for _, f := range detectOrder {
		n := 0
		for _, s := range sample {
			p = parsed{msgOff: -1}
			if parseWith(nil, f, s, &p) {
				n++
			}
		}
		if f == FormatWindowsXML && n > 0 {
			return f, nil, nil
		}
		if n > bestN {
			best, bestN = f, n
		}
	}
	// A format that fits only a stray line of many is not the file's format.
	if bestN*5 < len(sample) {
		return FormatPlain, nil, nil
	}
	return best, nil, nil
}

// traceMarker reports lines that only ever continue a record: the frames
// and links of Java, .NET and Python stack traces.
func traceMarker(s string) bool {
	switch s[0] {
	case 'C':
		return strings.HasPrefix(s, "Caused by: ")
	case 'S':
		return strings.HasPrefix(s, "Suppressed: ")
	case 'T':
		return strings.HasPrefix(s, "Traceback (most recent call last):")
	case 'D':
		return strings.HasPrefix(s, "During handling of the above exception")
	case '-':
		return strings.HasPrefix(s, "--- End of ")
	case '.':
		return strings.HasPrefix(s, "... ") && strings.HasSuffix(s, " more")
	case 'a':
		return strings.HasPrefix(s, "at ") && strings.IndexByte(s, '(') > 0
	}
	return false
}

// looksException is the line that ends a Python traceback: "KeyError: 'a'",
// "requests.exceptions.ConnectionError: ...", "StopIteration".
func looksException(s string) bool {
	end := strings.IndexByte(s, ':')
	if end < 0 {
		end = len(s)
	}
	name := s[:end]
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c == '_' || c == '.' || isDigit(c) || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')) {
			return false
		}
	}
	return true
}

// looksJavaException is "java.lang.IllegalStateException: ..." or
// "System.IO.IOException: ...": a qualified class name that ends in
// Exception, Error or Throwable, opening a line.
func looksJavaException(s string) bool {
	end := strings.IndexAny(s, ": ")
	if end < 0 {
		end = len(s)
	}
	name := s[:end]
	if strings.IndexByte(name, '.') < 0 {
		return false
	}
	if !(strings.HasSuffix(name, "Exception") || strings.HasSuffix(name, "Error") || strings.HasSuffix(name, "Throwable")) {
		return false
	}
	return end == len(s) || s[end] == ':'
}

// isGoroutineHeader is "goroutine 1 [running]:".
func isGoroutineHeader(s string) bool {
	if !strings.HasPrefix(s, "goroutine ") {
		return false
	}
	i := len("goroutine ")
	j := i
	for j < len(s) && isDigit(s[j]) {
		j++
	}
	return j > i && j+1 < len(s) && s[j] == ' ' && s[j+1] == '['
}

// token returns the run of non-space bytes at s[i:] and the position after.
func token(s string, i int) (string, int) {
	j := i
	for j < len(s) && s[j] != ' ' && s[j] != '\t' {
		j++
	}
	return s[i:j], j
}

func skipSpaces(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// closeBracket finds the ']' that closes the '[' at s[i], allowing nesting
// (Zookeeper's [QuorumPeer[myid=1]/0:...]).
func closeBracket(s string, i int) int {
	depth := 0
	for j := i; j < len(s) && j < i+512; j++ {
		switch s[j] {
		case '[':
			depth++
		case ']':
			depth--
			if depth == 0 {
				return j
			}
		}
	}
	return -1
}

// looksComponent accepts a logger or class name that a colon ends:
// "org.apache.hadoop.Foo", "dfs.DataNode$PacketResponder", "WindowManager",
// "sshd(pam_unix)"; not an ordinary word such as "Failed" or "Error".
func looksComponent(s string) bool {
	if s == "" || len(s) > 160 {
		return false
	}
	special := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.' || c == '$' || c == '_' || c == '/' || c == '(' || c == '[' || c == '#' || c == '@':
			special = true
		case 'A' <= c && c <= 'Z':
			if i > 0 && !('A' <= s[i-1] && s[i-1] <= 'Z') {
				special = true
			}
		case 'a' <= c && c <= 'z', isDigit(c), c == '-', c == ')', c == ']', c == '<', c == '>', c == ':':
		default:
			return false
		}
	}
	return special
}

// parseHeader is the Loghub-style and generic header: a timestamp (perhaps
// bracketed, perhaps after a file name), then in some order pids, a level,
// a [thread], separators and a component, then the message. It also takes a
// level first and the timestamp after it.
func parseHeader(s string, p *parsed) bool {
	if len(s) < 8 {
		return false
	}
	if s[1] == ',' && s[2] == ' ' && s[3] == '[' {
		return parseRubyLogger(s, p)
	}
	if isDigit(s[0]) {
		if ok, done := parseRedis(s, p); done {
			return ok
		}
	}
	i := 0
	bracketed := false
	st, end, ok := stamp{}, 0, false
	if s[0] == '[' {
		st, end, ok = parseStampAt(s, 1)
		if ok && end < len(s) && s[end] == ']' {
			bracketed, end = true, end+1
		} else {
			ok = false
		}
	} else {
		st, end, ok = parseStampAt(s, 0)
	}
	if !ok && (isDigit(s[0]) || s[0] >= 'a' && s[0] <= 'z') {
		// "nova-api.log.1.2017-05-16_13:53:08 2017-05-16 00:00:00.008 ...": a
		// file name before the timestamp.
		if sp := strings.IndexByte(s, ' '); sp > 0 && sp < 80 && sp+1 < len(s) && isDigit(s[sp+1]) {
			st, end, ok = parseStampAt(s, sp+1)
		}
	}
	if !ok {
		return parseLevelFirst(s, p)
	}
	p.st, p.hasStamp = st, true
	i = end
	if i < len(s) && s[i] == ',' { // Windows CBS: "2016-09-28 04:30:30, Info"
		i++
	}
	i = skipSpaces(s, i)
	if i < len(s) && s[i] == '|' { // HealthApp: time|component|pid|message
		rest := s[i+1:]
		a := strings.IndexByte(rest, '|')
		if a < 0 {
			p.suffix(s, i+1)
			return true
		}
		p.comp = rest[:a]
		b := strings.IndexByte(rest[a+1:], '|')
		if b >= 0 && allDigits(rest[a+1:a+1+b]) {
			p.suffix(s, i+1+a+1+b+1)
		} else {
			p.suffix(s, i+1+a+1)
		}
		return true
	}
	sawDigits, threadAfterLevel := false, false
	for step := 0; step < 8 && i < len(s); step++ {
		i = skipSpaces(s, i)
		if i >= len(s) {
			break
		}
		if s[i] == '[' {
			j := closeBracket(s, i)
			if j < 0 {
				break
			}
			inner := s[i+1 : j]
			if p.level == LevelUnknown {
				if lv, ok := isLevelWord(strings.TrimSpace(inner)); ok {
					p.level = lv
					i = j + 1
					continue
				}
			}
			if (p.level != LevelUnknown && strings.HasPrefix(inner, "req-")) || inner == "-" {
				i = j + 1 // OpenStack's request context
				continue
			}
			if p.comp != "" || step > 5 {
				break
			}
			if p.level == LevelUnknown && !sawDigits && !bracketed && step == 0 {
				i = j + 1 // a thread before the level: log4j's %d [%t] %p
				continue
			}
			if p.level != LevelUnknown {
				i = j + 1 // a thread after the level
				threadAfterLevel = true
				continue
			}
			break
		}
		tok, next := token(s, i)
		if tok == "-" || tok == "|" || tok == "---" || tok == ":" || tok == "--" {
			i = next
			continue
		}
		if allDigits(tok) && p.comp == "" {
			sawDigits = true
			i = next
			continue
		}
		if p.level == LevelUnknown {
			if lv, ok := isLevelWord(tok); ok && levelShaped(s, tok, next) {
				p.level = lv
				i = next
				continue
			}
			if len(tok) == 1 && sawDigits {
				// logcat threadtime: "1702  2395 D WindowManager: ..." — the
				// tag runs to ": ".
				if lv, ok := letterLevel(tok[0]); ok {
					p.level = lv
					k := strings.Index(s[next:], ": ")
					if k >= 0 && k < 128 {
						p.comp = strings.TrimSpace(s[next : next+k])
						p.suffix(s, next+k+2)
						return true
					}
					i = next
					continue
				}
			}
		}
		if p.comp != "" {
			break
		}
		// A component: "Name:", "name - ", "name : ", "CBS    ", "a.b.c [".
		if n := len(tok); n > 1 && tok[n-1] == ':' && looksComponent(tok[:n-1]) {
			p.comp = tok[:n-1]
			i = next
			break
		}
		if next+3 <= len(s) && s[next:next+3] == " : " && looksName(tok) { // Spring Boot
			p.comp = tok
			i = next
			continue
		}
		if threadAfterLevel {
			break // Zookeeper: LEVEL [thread] - message
		}
		if next+3 <= len(s) && s[next:next+3] == " - " && looksName(tok) {
			p.comp = tok
			i = next
			continue
		}
		if p.level == LevelUnknown && bracketed && next+1 < len(s) && s[next+1] == '*' {
			// Proxifier: "[10.30 16:49:06] svchost.exe *64 - ..."
			if _, n2 := token(s, next+1); n2+3 <= len(s) && s[n2:n2+3] == " - " {
				p.comp = s[i:n2]
				i = n2
				continue
			}
		}
		if p.level != LevelUnknown && next+2 <= len(s) && s[next:next+2] == "  " && looksName(tok) {
			p.comp = tok
			i = next
			break
		}
		if p.level != LevelUnknown && next+2 <= len(s) && s[next:next+2] == " [" && strings.IndexByte(tok, '.') > 0 && looksName(tok) {
			p.comp = tok
			i = next
			continue
		}
		break
	}
	p.suffix(s, skipSpaces(s, i))
	return true
}

// looksName is a program or logger name: no quotes, no '=' and not too long.
func looksName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	return strings.IndexAny(s, `"'=,;{}`) < 0
}

// parseLevelFirst takes "ERROR 2024-01-02 15:04:05 msg", "[WARN] msg",
// "ERROR: msg": a level token opening the line, with or without a time
// after it. Lower-case words count only bracketed or with a colon, so that a
// sentence starting "Error handling ..." is not a level.
func parseLevelFirst(s string, p *parsed) bool {
	var tok string
	var next int
	if s[0] == '[' {
		j := strings.IndexByte(s, ']')
		if j < 0 || j > 12 {
			return false
		}
		tok, next = s[1:j], j+1
	} else {
		tok, next = token(s, 0)
		if k := strings.IndexByte(tok, ':'); k > 0 && k < len(tok)-1 {
			// Python's basicConfig: "ERROR:root:message"
			lv, ok := isLevelWord(tok[:k])
			if !ok || !isUpperWord(tok[:k]) {
				return false
			}
			p.level = lv
			rest := k + 1
			if c := strings.IndexByte(s[rest:], ':'); c > 0 && looksName(s[rest:rest+c]) && strings.IndexByte(s[rest:rest+c], ' ') < 0 {
				p.comp = s[rest : rest+c]
				rest += c + 1
			}
			p.suffix(s, rest)
			return true
		}
		if !(isUpperWord(tok) || strings.HasSuffix(tok, ":")) {
			return false
		}
	}
	lv, ok := isLevelWord(tok)
	if !ok {
		return false
	}
	p.level = lv
	i := skipSpaces(s, next)
	if st, end, ok := parseStampAt(s, i); ok {
		p.st, p.hasStamp = st, true
		i = skipSpaces(s, end)
	}
	p.suffix(s, i)
	return true
}

func isUpperWord(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'a' <= s[i] && s[i] <= 'z' {
			return false
		}
	}
	return true
}

// parseRubyLogger reads Ruby's Logger: "E, [2024-03-01T12:00:00.123456
// #1234] ERROR -- app: message".
func parseRubyLogger(s string, p *parsed) bool {
	st, end, ok := parseISO(s, 4)
	if !ok {
		return false
	}
	k := strings.IndexByte(s[end:], ']')
	if k < 0 {
		return false
	}
	i := skipSpaces(s, end+k+1)
	tok, next := token(s, i)
	lv, ok := ParseLevel(tok)
	if !ok {
		if tok != "ANY" && tok != "UNKNOWN" {
			return false
		}
		lv = LevelUnknown
	}
	p.st, p.hasStamp, p.level = st, true, lv
	i = skipSpaces(s, next)
	if strings.HasPrefix(s[i:], "-- ") {
		i += 3
		if c := strings.Index(s[i:], ": "); c >= 0 {
			if c > 0 && strings.IndexByte(s[i:i+c], ' ') < 0 {
				p.comp = s[i : i+c]
			}
			i += c + 2
		}
	}
	p.suffix(s, i)
	return true
}

// parseRedis reads Redis's "1234:M 01 Mar 2024 12:00:00.123 * message", whose
// level is one character: . debug, - verbose, * notice, # warning. done is
// false when the line does not start like one.
func parseRedis(s string, p *parsed) (ok, done bool) {
	c := strings.IndexByte(s, ':')
	if c < 1 || c > 10 || c+3 >= len(s) || !allDigits(s[:c]) || s[c+2] != ' ' || strings.IndexByte("XCSM", s[c+1]) < 0 {
		return false, false
	}
	st, end, ok := parseDayMonth(s, c+3)
	if !ok || end+3 > len(s) || s[end] != ' ' || s[end+2] != ' ' {
		return false, false
	}
	switch s[end+1] {
	case '.':
		p.level = LevelDebug
	case '-':
		p.level = LevelTrace
	case '*':
		p.level = LevelNotice
	case '#':
		p.level = LevelWarn
	default:
		return false, false
	}
	p.st, p.hasStamp, p.comp = st, true, "redis"
	p.suffix(s, end+3)
	return true, true
}

// levelShaped tells a level token from a word that opens the message: in
// capitals ("ERROR"), with a colon ("error:"), or followed by a header's
// delimiter (padding, " [", " - ", " |": "Info      CBS"). "Error
// connecting to db" after a timestamp is a sentence.
func levelShaped(s, tok string, next int) bool {
	if isUpperWord(tok) || strings.HasSuffix(tok, ":") {
		return true
	}
	rest := s[next:]
	return rest == "" || strings.HasPrefix(rest, "  ") || strings.HasPrefix(rest, " [") ||
		strings.HasPrefix(rest, " - ") || strings.HasPrefix(rest, " | ") || strings.HasPrefix(rest, "\t")
}
