package logparse

import "strings"

// parsePRI reads "<34>" and returns the severity and the position after.
func parsePRI(s string) (sev, end int, ok bool) {
	if len(s) < 3 || s[0] != '<' {
		return 0, 0, false
	}
	v := 0
	j := 1
	for ; j < len(s) && j < 5 && isDigit(s[j]); j++ {
		v = v*10 + int(s[j]-'0')
	}
	if j == 1 || j >= len(s) || s[j] != '>' || v > 191 {
		return 0, 0, false
	}
	return v & 7, j + 1, true
}

// parseSyslog3164 reads "[<PRI>]Mmm dd hh:mm:ss host tag[pid]: msg" and the
// same with an RFC 3339 timestamp, as rsyslog's high-precision template
// writes it.
func parseSyslog3164(s string, p *parsed) bool {
	i := 0
	pri := false
	if sev, end, ok := parsePRI(s); ok {
		p.level, i, pri = syslogSeverity(sev), end, true
	}
	defer func() {
		if !pri {
			p.level = appLevel(p.msg)
		}
	}()
	var st stamp
	var end int
	var ok bool
	if i < len(s) && isDigit(s[i]) {
		st, end, ok = parseISO(s, i)
		if ok && !st.zoned {
			return false // an ISO stamp with no zone is some other header
		}
	} else {
		st, end, ok = parseSyslogTime(s, i)
	}
	if !ok || end >= len(s) || s[end] != ' ' {
		return false
	}
	p.st, p.hasStamp = st, true
	host, j := token(s, end+1)
	if host == "" || strings.HasSuffix(host, ":") || host[0] == '[' || host[0] == '-' || host[0] == '|' {
		return false
	}
	if _, ok := isLevelWord(host); ok && isUpperWord(host) {
		return false // "2024-... +01:00 ERROR ...": a level, not a host
	}
	return syslogTag(s, skipSpaces(s, j), p)
}

// syslogTag reads "tag[pid]: msg" (or a message without a tag) at s[i:].
func syslogTag(s string, i int, p *parsed) bool {
	tok, next := token(s, i)
	if n := len(tok); n > 0 && tok[n-1] != ':' && next < len(s) {
		// "syslogd 1.4.1: restart.": a program and its version.
		if v, vn := token(s, next+1); len(v) > 1 && v[len(v)-1] == ':' && isVersion(v[:len(v)-1]) {
			p.comp = s[i : vn-1]
			p.suffix(s, skipSpaces(s, vn))
			return true
		}
	}
	if n := len(tok); n > 0 && tok[n-1] != ':' && !strings.HasSuffix(tok, "]") {
		// "Microsoft Word[14463]: ...": a program name with a space.
		w := s[i:]
		if len(w) > 64 {
			w = w[:64]
		}
		if k := strings.Index(w, "]: "); k > 0 {
			if b := strings.LastIndexByte(w[:k], '['); b > 0 && allDigits(w[b+1:k]) && strings.IndexAny(w[:b], ":=[") < 0 {
				p.comp = w[:b]
				p.suffix(s, i+k+3)
				return true
			}
		}
	}
	if n := len(tok); n > 1 && tok[n-1] == ':' {
		tag := tok[:n-1]
		if k := strings.IndexByte(tag, '['); k > 0 && strings.HasSuffix(tag, "]") {
			tag = tag[:k]
		}
		p.comp = tag
		p.suffix(s, skipSpaces(s, next))
		return true
	}
	// "com.apple.xpc.launchd[1] (com.apple.foo[80437]): msg": a tag with
	// its pid and a subsystem in parentheses.
	if k := strings.IndexByte(tok, '['); k > 0 && strings.HasSuffix(tok, "]") {
		p.comp = tok[:k]
		next = skipSpaces(s, next)
		if sub, sn := token(s, next); strings.HasPrefix(sub, "(") && strings.HasSuffix(sub, "):") {
			next = skipSpaces(s, sn)
		}
		p.suffix(s, next)
		return true
	}
	p.suffix(s, i)
	return true
}

// parseSyslog5424 reads "<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG".
func parseSyslog5424(s string, p *parsed) bool {
	sev, i, ok := parsePRI(s)
	if !ok || i+2 > len(s) || s[i] != '1' || s[i+1] != ' ' {
		return false
	}
	p.level = syslogSeverity(sev)
	i += 2
	if i < len(s) && s[i] == '-' {
		i++
	} else {
		st, end, ok := parseISO(s, i)
		if !ok {
			return false
		}
		p.st, p.hasStamp, i = st, true, end
	}
	var fields [4]string
	for k := range fields {
		if i >= len(s) || s[i] != ' ' {
			return false
		}
		fields[k], i = token(s, i+1)
	}
	if fields[1] != "-" {
		p.comp = fields[1]
	}
	if i < len(s) && s[i] == ' ' {
		i++
	}
	// Structured data: "-" or one or more [id k="v" ...].
	if i < len(s) && s[i] == '-' {
		i++
	} else {
		for i < len(s) && s[i] == '[' {
			j := i + 1
			inQuote := false
			for ; j < len(s); j++ {
				c := s[j]
				if c == '\\' {
					j++
					continue
				}
				if c == '"' {
					inQuote = !inQuote
				} else if c == ']' && !inQuote {
					break
				}
			}
			if j >= len(s) {
				return false
			}
			i = j + 1
		}
	}
	i = skipSpaces(s, i)
	if strings.HasPrefix(s[i:], "\xEF\xBB\xBF") {
		i += 3
	}
	p.suffix(s, i)
	return true
}

// parseAccess reads the common and combined access log formats of Apache
// and nginx: host ident user [10/Oct/2000:13:55:36 -0700] "GET / HTTP/1.1"
// 200 2326 ... The status gives the level: 5xx error, 4xx warn.
func parseAccess(s string, p *parsed) bool {
	b := strings.Index(s, " [")
	if b < 1 || b > 300 {
		return false
	}
	st, end, ok := parseCLF(s, b+2)
	if !ok || end+3 > len(s) || s[end] != ']' || s[end+1] != ' ' || s[end+2] != '"' {
		return false
	}
	p.st, p.hasStamp = st, true
	i := end + 3
	// The request, with its escapes, then the status.
	for i < len(s) && s[i] != '"' {
		if s[i] == '\\' {
			i++
		}
		i++
	}
	if i+5 > len(s) || s[i+1] != ' ' {
		return false
	}
	code, ok := num(s, i+2, 3)
	if !ok {
		return false
	}
	switch {
	case code >= 500:
		p.level = LevelError
	case code >= 400:
		p.level = LevelWarn
	default:
		p.level = LevelInfo
	}
	p.suffix(s, end+2)
	return true
}

// parseApacheError reads "[Sun Dec 04 04:47:44 2005] [error] msg" and the
// 2.4 shape "[Fri Sep 09 10:42:29.902022 2011] [core:error] [pid 35708:tid
// 4328636416] [client 1.2.3.4:5] AH00128: msg".
func parseApacheError(s string, p *parsed) bool {
	if len(s) < 30 || s[0] != '[' {
		return false
	}
	st, end, ok := parseCtime(s, 1)
	if !ok || end+3 > len(s) || s[end] != ']' || s[end+1] != ' ' || s[end+2] != '[' {
		return false
	}
	j := strings.IndexByte(s[end+3:], ']')
	if j < 0 {
		return false
	}
	lvTok := s[end+3 : end+3+j]
	if k := strings.IndexByte(lvTok, ':'); k >= 0 {
		p.comp, lvTok = lvTok[:k], lvTok[k+1:]
	}
	lv, ok := ParseLevel(lvTok)
	if !ok {
		if lvTok != "" && lvTok[0] == 't' && strings.HasPrefix(lvTok, "trace") { // trace1..trace8
			lv, ok = LevelTrace, true
		} else {
			return false
		}
	}
	p.st, p.hasStamp, p.level = st, true, lv
	i := skipSpaces(s, end+3+j+1)
	if strings.HasPrefix(s[i:], "[pid ") {
		if k := strings.IndexByte(s[i:], ']'); k > 0 {
			i = skipSpaces(s, i+k+1)
		}
	}
	p.suffix(s, i)
	return true
}

// parseNginxError reads "2024/01/02 15:04:05 [error] 1234#1234: *5 msg".
func parseNginxError(s string, p *parsed) bool {
	if len(s) < 24 || s[4] != '/' {
		return false
	}
	st, end, ok := parseISO(s, 0)
	if !ok || end+2 > len(s) || s[end] != ' ' || s[end+1] != '[' {
		return false
	}
	j := strings.IndexByte(s[end+2:], ']')
	if j < 0 {
		return false
	}
	lv, ok := ParseLevel(s[end+2 : end+2+j])
	if !ok {
		return false
	}
	p.st, p.hasStamp, p.level = st, true, lv
	i := skipSpaces(s, end+2+j+1)
	if tok, next := token(s, i); strings.HasSuffix(tok, ":") && strings.IndexByte(tok, '#') > 0 {
		i = skipSpaces(s, next)
		if i < len(s) && s[i] == '*' {
			if t2, n2 := token(s, i); allDigits(t2[1:]) {
				i = skipSpaces(s, n2)
			}
		}
	}
	p.suffix(s, i)
	return true
}

// parseKlog reads "I0102 15:04:05.000000   12345 file.go:123] msg".
func parseKlog(s string, p *parsed) bool {
	if len(s) < 22 || s[5] != ' ' {
		return false
	}
	lv, ok := letterLevel(s[0])
	if !ok || (s[0] != 'I' && s[0] != 'W' && s[0] != 'E' && s[0] != 'F') {
		return false
	}
	mo, ok1 := num(s, 1, 2)
	d, ok2 := num(s, 3, 2)
	if !ok1 || !ok2 {
		return false
	}
	h, m, sec, ns, end, ok := clock(s, 6, ':')
	if !ok {
		return false
	}
	st := stamp{mon: monthOf(mo), day: d, h: h, m: m, s: sec, ns: ns}
	if !st.valid() {
		return false
	}
	i := skipSpaces(s, end)
	tid, i2 := token(s, i)
	if !allDigits(tid) {
		return false
	}
	src, i3 := token(s, skipSpaces(s, i2))
	if !strings.HasSuffix(src, "]") {
		return false
	}
	src = src[:len(src)-1]
	if k := strings.LastIndexByte(src, ':'); k > 0 {
		src = src[:k]
	}
	p.st, p.hasStamp, p.level, p.comp = st, true, lv, src
	p.suffix(s, skipSpaces(s, i3))
	return true
}

// parsePostgres reads a PostgreSQL server log line with the usual prefixes
// ('%m [%p] ', '%t ', '%m [%p] %q%u@%d '): a timestamp with its zone, then
// "LEVEL:  msg". DETAIL, HINT, CONTEXT, STATEMENT, QUERY and LOCATION lines
// belong to the record before them.
func parsePostgres(s string, p *parsed) bool {
	if len(s) < 24 || !isDigit(s[0]) {
		return false
	}
	st, end, ok := parseISO(s, 0)
	if !ok {
		return false
	}
	i := end
	for step := 0; step < 4 && i < len(s); step++ {
		i = skipSpaces(s, i)
		k := strings.Index(s[i:], ":  ")
		sp := strings.IndexByte(s[i:], ' ')
		if k >= 0 && (sp < 0 || k < sp) {
			lv, join, ok := pgLevel(s[i : i+k])
			if !ok {
				return false
			}
			p.st, p.hasStamp, p.level, p.joinPrev = st, true, lv, join
			p.suffix(s, i+k+3)
			return true
		}
		if sp < 0 {
			return false
		}
		i += sp
	}
	return false
}

func pgLevel(tok string) (Level, bool, bool) {
	switch tok {
	case "LOG", "INFO":
		return LevelInfo, false, true
	case "NOTICE":
		return LevelNotice, false, true
	case "WARNING":
		return LevelWarn, false, true
	case "ERROR":
		return LevelError, false, true
	case "FATAL", "PANIC":
		return LevelCritical, false, true
	case "DEBUG1", "DEBUG2", "DEBUG3", "DEBUG4", "DEBUG5":
		return LevelDebug, false, true
	case "DETAIL", "HINT", "CONTEXT", "STATEMENT", "QUERY", "LOCATION":
		return LevelUnknown, true, true
	}
	return LevelUnknown, false, false
}

// parseRAS reads the supercomputer logs' "LABEL EPOCH YYYY.MM.DD NODE ..."
// (BGL, Thunderbird): after the node either BGL's "2005-06-03-15.42.50.675872
// NODE TYPE COMPONENT LEVEL msg" or a syslog tail "Nov 9 12:01:01 host
// tag[pid]: msg". The epoch gives the time, in UTC.
func parseRAS(s string, p *parsed) bool {
	label, i := token(s, 0)
	if label == "" || i >= len(s) {
		return false
	}
	t, end, ok := epoch(s, i+1)
	if !ok || end >= len(s) || s[end] != ' ' {
		return false
	}
	date, j := token(s, end+1)
	if len(date) != 10 || date[4] != '.' || date[7] != '.' {
		return false
	}
	_, j = token(s, skipSpaces(s, j)) // node
	j = skipSpaces(s, j)
	p.t, p.zoned = t, true
	if j < len(s) && isDigit(s[j]) {
		if _, e, ok := parseISO(s, j); ok {
			var f [4]string
			k := e
			for n := range f {
				f[n], k = token(s, skipSpaces(s, k))
			}
			p.comp = f[2]
			if lv, ok := ParseLevel(f[3]); ok {
				p.level = lv
				p.suffix(s, skipSpaces(s, k))
			} else {
				p.suffix(s, skipSpaces(s, e))
			}
			return true
		}
	}
	if _, e, ok := parseSyslogTime(s, j); ok {
		_, k := token(s, skipSpaces(s, e)) // host
		syslogTag(s, skipSpaces(s, k), p)
		p.level = appLevel(p.msg)
		return true
	}
	p.suffix(s, j)
	return true
}

// parseNodeEvent reads HPC's "LOGID NODE COMPONENT STATE EPOCH FLAG msg".
func parseNodeEvent(s string, p *parsed) bool {
	var f [4]string
	i := 0
	for n := range f {
		f[n], i = token(s, skipSpaces(s, i))
	}
	if !allDigits(f[0]) || f[3] == "" || i >= len(s) {
		return false
	}
	t, end, ok := epoch(s, i+1)
	if !ok {
		return false
	}
	flag, k := token(s, skipSpaces(s, end))
	if !allDigits(strings.TrimPrefix(flag, "-")) {
		return false
	}
	p.t, p.zoned, p.comp = t, true, f[2]
	p.suffix(s, skipSpaces(s, k))
	return true
}

func isVersion(s string) bool {
	if s == "" || !isDigit(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) && s[i] != '.' {
			return false
		}
	}
	return true
}

// appLevel reads the level a program wrote at the start of its syslog
// message, as its own header: "error: ...", "WARNING: ...", "[warn] ...",
// "ERROR ..." (sshd, kernel drivers, most daemons). A capitalised word
// without a colon ("Error getting ...") is a sentence, not a level.
func appLevel(msg string) Level {
	if len(msg) < 4 {
		return LevelUnknown
	}
	if msg[0] == '[' {
		if j := strings.IndexByte(msg, ']'); j > 3 && j < 12 {
			if lv, ok := isLevelWord(msg[1:j]); ok {
				return lv
			}
		}
		return LevelUnknown
	}
	tok, _ := token(msg, 0)
	if strings.HasSuffix(tok, ":") || (len(tok) >= 4 && isUpperWord(tok)) {
		if lv, ok := isLevelWord(tok); ok {
			return lv
		}
	}
	return LevelUnknown
}
