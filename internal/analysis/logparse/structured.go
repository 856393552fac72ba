package logparse

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

func monthOf(m int) time.Month { return time.Month(m) }

// Field names, by kind, as the common loggers write them (compared
// case-insensitively; nested objects are searched too: ECS's
// {"log":{"level":...}}).
func fieldKind(key string) byte {
	if len(key) > 24 {
		return 0
	}
	var buf [24]byte
	for i := 0; i < len(key); i++ {
		c := key[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	switch string(buf[:len(key)]) {
	case "level", "lvl", "severity", "loglevel", "log_level", "levelname", "level_name", "log.level",
		"severitytext", "severity_text", "@l", "priority":
		return 'l'
	case "msg", "message", "@message", "@m", "@mt", "log", "event", "text", "body":
		return 'm'
	case "time", "timestamp", "ts", "@timestamp", "@t", "datetime", "date", "t", "$date",
		"__realtime_timestamp", "time_local", "eventtime", "timegenerated", "timecreated":
		return 't'
	case "logger", "logger_name", "loggername", "component", "module", "syslog_identifier", "name", "source",
		"log.logger", "app", "service", "caller":
		return 'c'
	case "error", "err", "exception", "error.message", "exc_info", "stack_trace", "stacktrace", "error_message":
		return 'e'
	}
	return 0
}

type jsonScan struct {
	s   string
	got [5]struct {
		val   string
		depth int
		isNum bool
		key   string
		set   bool
	}
}

// parseJSON reads a JSON object line. Its own scanner, not encoding/json:
// it only needs a few string fields and must not build a map per line.
func parseJSON(s string, p *parsed) bool {
	i := skipSpaces(s, 0)
	if i >= len(s) || s[i] != '{' {
		return false
	}
	js := jsonScan{s: s}
	end, ok := js.object(i, 0)
	if !ok {
		return false
	}
	if skipSpaces(s, end) != len(s) {
		return false
	}
	kinds := "ltmce"
	for k := range js.got {
		g := &js.got[k]
		if !g.set {
			continue
		}
		switch kinds[k] {
		case 'l':
			if g.isNum {
				n, _ := strconv.Atoi(g.val)
				if strings.EqualFold(g.key, "priority") {
					p.level = syslogSeverity(n)
				} else if lv, ok := numericLevel(n); ok {
					p.level = lv
				}
			} else if strings.EqualFold(g.key, "priority") && len(g.val) == 1 && isDigit(g.val[0]) {
				p.level = syslogSeverity(int(g.val[0] - '0'))
			} else if lv, ok := ParseLevel(g.val); ok {
				p.level = lv
			}
		case 't':
			if g.isNum || allDigits(g.val) {
				p.t, p.zoned = epochAny(g.val, strings.EqualFold(g.key, "__realtime_timestamp"))
			} else if st, _, ok := parseStampAt(g.val, 0); ok {
				p.st, p.hasStamp = st, true
			}
		case 'm':
			p.msg = g.val
		case 'c':
			p.comp = g.val
		}
	}
	if e := &js.got[4]; e.set && e.val != "" {
		if p.msg == "" {
			p.msg = e.val
		} else {
			p.msg = p.msg + ": " + e.val
		}
	}
	if !js.got[2].set && !js.got[4].set {
		p.suffix(s, 0) // no message field: the whole object is the message
	} else if !js.got[0].set && len(p.msg) > 8 {
		// Docker's {"log":"2024-... ERROR x\n","stream":...}: the message
		// has a header of its own, with the level.
		inner := strings.TrimRight(p.msg, "\r\n")
		q := parsed{msgOff: -1}
		if parseHeader(inner, &q) && q.level != LevelUnknown {
			p.level, p.msg = q.level, q.msg
			if p.comp == "" {
				p.comp = q.comp
			}
		}
	}
	return true
}

// epochAny reads a number of seconds, milliseconds, microseconds or
// nanoseconds since 1970, telling them apart by magnitude.
func epochAny(v string, micro bool) (time.Time, bool) {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 {
		return time.Time{}, false
	}
	switch {
	case micro || (f >= 1e14 && f < 1e17):
		return time.UnixMicro(int64(f)).UTC(), true
	case f >= 1e17:
		return time.Unix(0, int64(f)).UTC(), true
	case f >= 1e11:
		return time.UnixMilli(int64(f)).UTC(), true
	default:
		sec := int64(f)
		return time.Unix(sec, int64((f-float64(sec))*1e9)).UTC(), true
	}
}

func (js *jsonScan) object(i, depth int) (int, bool) {
	s := js.s
	if depth > 64 {
		return 0, false // deeper than any log line: not ours to parse
	}
	i++ // '{'
	for {
		i = skipWS(s, i)
		if i >= len(s) {
			return 0, false
		}
		if s[i] == '}' {
			return i + 1, true
		}
		if s[i] != '"' {
			return 0, false
		}
		key, end, ok := js.str(i)
		if !ok {
			return 0, false
		}
		i = skipWS(s, end)
		if i >= len(s) || s[i] != ':' {
			return 0, false
		}
		i = skipWS(s, i+1)
		if i >= len(s) {
			return 0, false
		}
		kind := fieldKind(key)
		slot := strings.IndexByte("ltmce", kind)
		switch c := s[i]; {
		case c == '"':
			v, end, ok := js.str(i)
			if !ok {
				return 0, false
			}
			js.take(slot, key, v, depth, false)
			i = end
		case c == '{':
			end, ok := js.object(i, depth+1)
			if !ok {
				return 0, false
			}
			i = end
		case c == '[':
			end, ok := js.array(i, depth+1)
			if !ok {
				return 0, false
			}
			i = end
		default:
			j := i
			for j < len(s) && s[j] != ',' && s[j] != '}' && s[j] != ' ' && s[j] != ']' {
				j++
			}
			lit := s[i:j]
			if lit == "" {
				return 0, false
			}
			if lit != "true" && lit != "false" && lit != "null" {
				js.take(slot, key, lit, depth, true)
			}
			i = j
		}
		i = skipWS(s, i)
		if i < len(s) && s[i] == ',' {
			i++
			continue
		}
		if i < len(s) && s[i] == '}' {
			return i + 1, true
		}
		return 0, false
	}
}

func (js *jsonScan) take(slot int, key, v string, depth int, isNum bool) {
	if slot < 0 || depth > 3 {
		return
	}
	g := &js.got[slot]
	if g.set && g.depth <= depth {
		return // the shallowest field wins; among equals, the first
	}
	if slot == 1 && !isNum && v == "" {
		return
	}
	g.val, g.depth, g.isNum, g.key, g.set = v, depth, isNum, key, true
}

func (js *jsonScan) array(i, depth int) (int, bool) {
	s := js.s
	i++
	for {
		i = skipWS(s, i)
		if i >= len(s) || depth > 64 {
			return 0, false
		}
		switch s[i] {
		case ']':
			return i + 1, true
		case '"':
			_, end, ok := js.str(i)
			if !ok {
				return 0, false
			}
			i = end
		case '{':
			end, ok := js.object(i, depth+1)
			if !ok {
				return 0, false
			}
			i = end
		case '[':
			end, ok := js.array(i, depth+1)
			if !ok {
				return 0, false
			}
			i = end
		default:
			j := i
			for j < len(s) && s[j] != ',' && s[j] != ']' && s[j] != ' ' {
				j++
			}
			if j == i {
				return 0, false
			}
			i = j
		}
		i = skipWS(s, i)
		if i < len(s) && s[i] == ',' {
			i++
		}
	}
}

func skipWS(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n') {
		i++
	}
	return i
}

// str reads the JSON string at s[i] ('"'), unescaping only when it must.
func (js *jsonScan) str(i int) (string, int, bool) {
	s := js.s
	if k := strings.IndexByte(s[i+1:], '"'); k >= 0 && strings.IndexByte(s[i+1:i+1+k], '\\') < 0 {
		return s[i+1 : i+1+k], i + 2 + k, true // no escapes: the common case
	}
	j := i + 1
	esc := false
	for j < len(s) {
		c := s[j]
		if c == '\\' {
			esc = true
			j += 2
			continue
		}
		if c == '"' {
			break
		}
		j++
	}
	if j >= len(s) {
		return "", 0, false
	}
	raw := s[i+1 : j]
	if !esc {
		return raw, j + 1, true
	}
	return unescapeJSON(raw), j + 1, true
}

func unescapeJSON(raw string) string {
	var b strings.Builder
	b.Grow(len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '\\' || i+1 >= len(raw) {
			b.WriteByte(c)
			continue
		}
		i++
		switch raw[i] {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'u':
			if i+4 < len(raw) {
				if v, err := strconv.ParseUint(raw[i+1:i+5], 16, 32); err == nil {
					r := rune(v)
					i += 4
					if r >= 0xD800 && r < 0xDC00 && i+6 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
						if lo, err := strconv.ParseUint(raw[i+3:i+7], 16, 32); err == nil && lo >= 0xDC00 && lo < 0xE000 {
							r = (r-0xD800)<<10 | (rune(lo) - 0xDC00) + 0x10000
							i += 6
						}
					}
					if !utf8.ValidRune(r) {
						r = utf8.RuneError
					}
					b.WriteRune(r)
					continue
				}
			}
			b.WriteString(`\u`)
		default: // \" \\ \/ and anything else: the character itself
			b.WriteByte(raw[i])
		}
	}
	return b.String()
}

// parseLogfmt reads "time=... level=info msg=\"...\" k=v": at least two
// pairs, one of them a time, level or message. The message is msg= followed
// by the pairs that are not time, level or component.
func parseLogfmt(s string, p *parsed) bool {
	i := 0
	pairs := 0
	known := false
	msg := ""
	var extra [12][2]int // spans of s that go after the message
	nExtra, extraLen := 0, 0
	addExtra := func(a, b int) {
		if nExtra < len(extra) {
			extra[nExtra] = [2]int{a, b}
			nExtra++
			extraLen += b - a + 1
		}
	}
	for i < len(s) {
		i = skipSpaces(s, i)
		if i >= len(s) {
			break
		}
		k := i
		for k < len(s) && s[k] != '=' && s[k] != ' ' && s[k] != '"' {
			k++
		}
		if k == i || k >= len(s) || s[k] != '=' {
			if pairs >= 2 && known {
				addExtra(i, len(s)) // trailing text that is no pair
				break
			}
			return false
		}
		key := s[i:k]
		v := k + 1
		var val string
		var end int
		if v < len(s) && s[v] == '"' {
			j := v + 1
			esc := false
			for j < len(s) && s[j] != '"' {
				if s[j] == '\\' {
					esc = true
					j++
				}
				j++
			}
			if j >= len(s) {
				return false
			}
			val, end = s[v+1:j], j+1
			if esc {
				if u, err := strconv.Unquote(s[v : j+1]); err == nil {
					val = u
				}
			}
		} else {
			val, end = token(s, v)
		}
		pairs++
		switch fieldKind(key) {
		case 'l':
			if lv, ok := ParseLevel(val); ok {
				p.level, known = lv, true
			}
		case 't':
			if st, _, ok := parseStampAt(val, 0); ok {
				p.st, p.hasStamp, known = st, true, true
			} else if allDigits(val) {
				p.t, p.zoned = epochAny(val, false)
				known = true
			}
		case 'm':
			if msg == "" {
				msg, known = val, true
			} else {
				addExtra(i, end)
			}
		case 'c':
			if key == "caller" || p.comp != "" {
				addExtra(i, end)
			} else {
				p.comp = val
			}
		default:
			addExtra(i, end)
		}
		i = end
	}
	if pairs < 2 || !known {
		return false
	}
	if nExtra == 0 {
		p.msg = msg
		return true
	}
	var b strings.Builder
	b.Grow(len(msg) + extraLen)
	b.WriteString(msg)
	for n := 0; n < nExtra; n++ {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s[extra[n][0]:extra[n][1]])
	}
	p.msg = b.String()
	return true
}
