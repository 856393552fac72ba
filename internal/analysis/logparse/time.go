package logparse

import "time"

// Hand-written timestamp parsers for the layouts logs use. time.Parse with a
// list of layouts per line would cost microseconds a line; these look at a
// few bytes and fail fast.

func num(s string, i, n int) (int, bool) {
	if i+n > len(s) {
		return 0, false
	}
	v := 0
	for k := i; k < i+n; k++ {
		c := s[k]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

// num12 reads one or two digits (a day, an hour written without padding).
func num12(s string, i int) (v, n int, ok bool) {
	if i >= len(s) || s[i] < '0' || s[i] > '9' {
		return 0, 0, false
	}
	v = int(s[i] - '0')
	if i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9' {
		return v*10 + int(s[i+1]-'0'), 2, true
	}
	return v, 1, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

var months = [12]string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}

// month reads a three-letter English month name at s[i:].
func month(s string, i int) (time.Month, bool) {
	if i+3 > len(s) {
		return 0, false
	}
	a, b, c := s[i]|0x20, s[i+1]|0x20, s[i+2]|0x20
	for m, name := range months {
		if name[0] == a && name[1] == b && name[2] == c {
			return time.Month(m + 1), true
		}
	}
	return 0, false
}

func isWeekday(s string, i int) bool {
	if i+3 > len(s) {
		return false
	}
	switch string([]byte{s[i] | 0x20, s[i+1] | 0x20, s[i+2] | 0x20}) {
	case "mon", "tue", "wed", "thu", "fri", "sat", "sun":
		return true
	}
	return false
}

// clock reads HH:MM:SS (sep may be ':' or '.') and an optional fraction
// introduced by '.', ',' or ':' (HealthApp writes 22:15:29:606). It returns
// the position after what it read.
func clock(s string, i int, sep byte) (h, m, sec, nsec, end int, ok bool) {
	var n int
	if h, n, ok = num12(s, i); !ok || h > 23 {
		return 0, 0, 0, 0, 0, false
	}
	i += n
	if i >= len(s) || s[i] != sep {
		return 0, 0, 0, 0, 0, false
	}
	// Minutes and seconds are two digits, but HealthApp writes 22:16:0:119.
	if m, n, ok = num12(s, i+1); !ok || m > 59 {
		return 0, 0, 0, 0, 0, false
	}
	i += 1 + n
	if i >= len(s) || s[i] != sep {
		return 0, 0, 0, 0, 0, false
	}
	if sec, n, ok = num12(s, i+1); !ok || sec > 60 {
		return 0, 0, 0, 0, 0, false
	}
	i += 1 + n
	nsec, i = fraction(s, i)
	return h, m, sec, nsec, i, true
}

func fraction(s string, i int) (nsec, end int) {
	if i+1 < len(s) && (s[i] == '.' || s[i] == ',' || s[i] == ':') && isDigit(s[i+1]) {
		j := i + 1
		scale := 100000000
		for j < len(s) && isDigit(s[j]) {
			if scale > 0 {
				nsec += int(s[j]-'0') * scale
				scale /= 10
			}
			j++
		}
		return nsec, j
	}
	return 0, i
}

// zone reads what may follow a time: Z, ±hh:mm, ±hhmm, ±hh, or (after a
// space) UTC/GMT or a common abbreviation. It returns the offset in seconds,
// the position after the zone, and whether a zone was there.
func zone(s string, i int) (int, int, bool) {
	if i >= len(s) {
		return 0, i, false
	}
	switch c := s[i]; {
	case c == 'Z':
		return 0, i + 1, true
	case c == '+' || c == '-':
		hh, ok := num(s, i+1, 2)
		if !ok || hh > 14 {
			return 0, i, false
		}
		j, mm := i+3, 0
		if j < len(s) && s[j] == ':' {
			if v, ok := num(s, j+1, 2); ok {
				mm, j = v, j+3
			}
		} else if v, ok := num(s, j, 2); ok {
			mm, j = v, j+2
		}
		if j < len(s) && isDigit(s[j]) { // a longer number: not an offset
			return 0, i, false
		}
		off := hh*3600 + mm*60
		if c == '-' {
			off = -off
		}
		return off, j, true
	case c == ' ' && i+6 <= len(s) && (s[i+1] == '+' || s[i+1] == '-') && isDigit(s[i+2]):
		// Serilog and .NET: "12:00:00.123 +01:00"; only ±hh:mm or ±hhmm
		// after a space, then a space or the end.
		off, j, ok := zone(s, i+1)
		if !ok || j-(i+1) < 5 || (j < len(s) && s[j] != ' ') {
			return 0, i, false
		}
		return off, j, true
	case c == ' ' && i+4 <= len(s):
		j := i + 1
		k := j
		for k < len(s) && k-j < 5 && s[k] >= 'A' && s[k] <= 'Z' {
			k++
		}
		if k-j < 3 || (k < len(s) && s[k] != ' ' && s[k] != ']' && s[k] != ',') {
			return 0, i, false
		}
		if off, ok := zoneAbbrev[s[j:k]]; ok {
			return off, k, true
		}
	}
	return 0, i, false
}

// zoneAbbrev holds abbreviations whose offset is unambiguous enough to use
// (PostgreSQL's log_timezone prints them).
var zoneAbbrev = map[string]int{
	"UTC": 0, "GMT": 0, "UT": 0, "Z": 0,
	"CET": 3600, "CEST": 7200, "EET": 7200, "EEST": 10800, "WET": 0, "WEST": 3600, "BST": 3600,
	"EST": -5 * 3600, "EDT": -4 * 3600, "CST": -6 * 3600, "CDT": -5 * 3600,
	"MST": -7 * 3600, "MDT": -6 * 3600, "PST": -8 * 3600, "PDT": -7 * 3600,
	"JST": 9 * 3600, "KST": 9 * 3600, "AEST": 10 * 3600, "AEDT": 11 * 3600, "MSK": 3 * 3600,
}

// stamp is a parsed timestamp before a year or zone is settled.
type stamp struct {
	year             int // 0: the layout has no year
	mon              time.Month
	day, h, m, s, ns int
	off              int  // zone offset in seconds
	zoned            bool // the layout gave a zone
}

func (st stamp) valid() bool {
	return st.mon >= 1 && st.mon <= 12 && st.day >= 1 && st.day <= 31
}

// parseISO reads 2006-01-02[T ]15:04:05[.frac][zone], also with '/' or '.'
// between the date's parts, and BGL's 2005-06-03-15.42.50.675872.
func parseISO(s string, i int) (stamp, int, bool) {
	var st stamp
	y, ok := num(s, i, 4)
	if !ok || i+10 > len(s) {
		return st, 0, false
	}
	ds := s[i+4]
	if ds != '-' && ds != '/' && ds != '.' {
		return st, 0, false
	}
	mo, n, ok := num12(s, i+5)
	if !ok {
		return st, 0, false
	}
	j := i + 5 + n
	if j >= len(s) || s[j] != ds {
		return st, 0, false
	}
	d, n, ok := num12(s, j+1)
	if !ok {
		return st, 0, false
	}
	j += 1 + n
	st = stamp{year: y, mon: time.Month(mo), day: d}
	if !st.valid() {
		return st, 0, false
	}
	if j >= len(s) || (s[j] != 'T' && s[j] != ' ' && s[j] != '-' && s[j] != '_' && s[j] != ':') {
		return st, 0, false
	}
	sep := byte(':')
	if s[j] == '-' && j+3 < len(s) && s[j+3] == '.' {
		sep = '.' // BGL
	}
	h, m, sec, ns, end, ok := clock(s, j+1, sep)
	if !ok {
		return st, 0, false
	}
	st.h, st.m, st.s, st.ns = h, m, sec, ns
	if off, e, ok := zone(s, end); ok {
		st.off, st.zoned, end = off, true, e
	}
	return st, end, true
}

// parseSyslogTime reads "Jan _2 15:04:05" with an optional " 2006" after it
// (and an optional fraction).
func parseSyslogTime(s string, i int) (stamp, int, bool) {
	var st stamp
	mon, ok := month(s, i)
	if !ok || i+3 >= len(s) || s[i+3] != ' ' {
		return st, 0, false
	}
	j := i + 4
	if j < len(s) && s[j] == ' ' {
		j++
	}
	d, n, ok := num12(s, j)
	if !ok || j+n >= len(s) || s[j+n] != ' ' {
		return st, 0, false
	}
	j += n + 1
	// "Jan 02 2006 15:04:05" (Cisco and some syslog daemons)
	if y, ok := num(s, j, 4); ok && j+4 < len(s) && s[j+4] == ' ' {
		st.year = y
		j += 5
	}
	h, m, sec, ns, end, ok := clock(s, j, ':')
	if !ok {
		return st, 0, false
	}
	st.mon, st.day, st.h, st.m, st.s, st.ns = mon, d, h, m, sec, ns
	if st.year == 0 {
		if y, ok := num(s, end+1, 4); ok && end < len(s) && s[end] == ' ' && (end+5 == len(s) || s[end+5] == ' ' || s[end+5] == ']') {
			st.year, end = y, end+5
		}
	}
	return st, end, st.valid()
}

// parseCtime reads "Sun Dec 04 04:47:44 2005" (Apache error logs, ctime),
// with an optional fraction after the seconds.
func parseCtime(s string, i int) (stamp, int, bool) {
	if !isWeekday(s, i) || i+4 >= len(s) || s[i+3] != ' ' {
		return stamp{}, 0, false
	}
	st, end, ok := parseSyslogTime(s, i+4)
	if !ok || st.year == 0 {
		return stamp{}, 0, false
	}
	return st, end, true
}

// parseCLF reads the access log's 10/Oct/2000:13:55:36 -0700.
func parseCLF(s string, i int) (stamp, int, bool) {
	var st stamp
	d, ok := num(s, i, 2)
	if !ok || i+20 > len(s) || s[i+2] != '/' || s[i+6] != '/' || s[i+11] != ':' {
		return st, 0, false
	}
	mon, ok := month(s, i+3)
	if !ok {
		return st, 0, false
	}
	y, ok := num(s, i+7, 4)
	if !ok {
		return st, 0, false
	}
	h, m, sec, ns, end, ok := clock(s, i+12, ':')
	if !ok {
		return st, 0, false
	}
	st = stamp{year: y, mon: mon, day: d, h: h, m: m, s: sec, ns: ns}
	if end+1 < len(s) && s[end] == ' ' {
		if off, e, ok := zone(s, end+1); ok {
			st.off, st.zoned, end = off, true, e
		}
	}
	return st, end, st.valid()
}

// parseUSDate reads 9/28/2016 4:30:30 AM as Windows' Event Viewer exports it
// in an English locale, and 28.09.2016 04:30:30 as European locales do.
func parseUSDate(s string, i int) (stamp, int, bool) {
	var st stamp
	a, n, ok := num12(s, i)
	if !ok {
		return st, 0, false
	}
	j := i + n
	if j >= len(s) || (s[j] != '/' && s[j] != '.') {
		return st, 0, false
	}
	sep := s[j]
	b, n, ok := num12(s, j+1)
	if !ok {
		return st, 0, false
	}
	j += 1 + n
	if j >= len(s) || s[j] != sep {
		return st, 0, false
	}
	y, ok := num(s, j+1, 4)
	if !ok || j+5 >= len(s) || s[j+5] != ' ' {
		return st, 0, false
	}
	h, m, sec, ns, end, ok := clock(s, j+6, ':')
	if !ok {
		return st, 0, false
	}
	if sep == '/' {
		st = stamp{year: y, mon: time.Month(a), day: b}
	} else {
		st = stamp{year: y, mon: time.Month(b), day: a}
	}
	if end+3 <= len(s) && s[end] == ' ' && (s[end+2]|0x20) == 'm' {
		switch s[end+1] | 0x20 {
		case 'p':
			if h < 12 {
				h += 12
			}
			end += 3
		case 'a':
			if h == 12 {
				h = 0
			}
			end += 3
		}
	}
	st.h, st.m, st.s, st.ns = h, m, sec, ns
	return st, end, st.valid()
}

// parseShortDate reads the year-less or two-digit-year layouts of Loghub's
// systems: 03-17 16:13:38.811 (logcat), 17/06/09 20:10:40 (Spark, yy/MM/dd),
// 081109 203615 (HDFS, yyMMdd HHmmss), 20171223-22:15:29:606 (HealthApp),
// 10.30 16:49:06 (Proxifier, MM.dd).
func parseShortDate(s string, i int) (stamp, int, bool) {
	var st stamp
	if i+13 > len(s) {
		return st, 0, false
	}
	switch {
	case isDigit(s[i+1]) && (s[i+2] == '-' || s[i+2] == '.') && s[i+5] == ' ': // MM-dd / MM.dd
		mo, ok1 := num(s, i, 2)
		d, ok2 := num(s, i+3, 2)
		if !ok1 || !ok2 {
			return st, 0, false
		}
		h, m, sec, ns, end, ok := clock(s, i+6, ':')
		if !ok {
			return st, 0, false
		}
		st = stamp{mon: time.Month(mo), day: d, h: h, m: m, s: sec, ns: ns}
		return st, end, st.valid()
	case s[i+2] == '/' && s[i+5] == '/' && s[i+8] == ' ': // yy/MM/dd
		y, ok1 := num(s, i, 2)
		mo, ok2 := num(s, i+3, 2)
		d, ok3 := num(s, i+6, 2)
		if !ok1 || !ok2 || !ok3 {
			return st, 0, false
		}
		h, m, sec, ns, end, ok := clock(s, i+9, ':')
		if !ok {
			return st, 0, false
		}
		st = stamp{year: 2000 + y, mon: time.Month(mo), day: d, h: h, m: m, s: sec, ns: ns}
		return st, end, st.valid()
	case s[i+6] == ' ' && isDigit(s[i+7]): // yyMMdd HHmmss
		y, ok1 := num(s, i, 2)
		mo, ok2 := num(s, i+2, 2)
		d, ok3 := num(s, i+4, 2)
		h, ok4 := num(s, i+7, 2)
		m, ok5 := num(s, i+9, 2)
		sec, ok6 := num(s, i+11, 2)
		if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || h > 23 || m > 59 || sec > 60 {
			return st, 0, false
		}
		end := i + 13
		if end < len(s) && isDigit(s[end]) {
			return st, 0, false
		}
		st = stamp{year: 2000 + y, mon: time.Month(mo), day: d, h: h, m: m, s: sec}
		return st, end, st.valid()
	case s[i+8] == '-' && isDigit(s[i+9]): // yyyyMMdd-HH:mm:ss
		y, ok1 := num(s, i, 4)
		mo, ok2 := num(s, i+4, 2)
		d, ok3 := num(s, i+6, 2)
		if !ok1 || !ok2 || !ok3 {
			return st, 0, false
		}
		h, m, sec, ns, end, ok := clock(s, i+9, ':')
		if !ok {
			return st, 0, false
		}
		st = stamp{year: y, mon: time.Month(mo), day: d, h: h, m: m, s: sec, ns: ns}
		return st, end, st.valid()
	}
	return st, 0, false
}

// parseStampAt tries the layouts that can open a header at s[i:], choosing by
// the first bytes so that a line costs one or two attempts.
func parseStampAt(s string, i int) (stamp, int, bool) {
	if i >= len(s) {
		return stamp{}, 0, false
	}
	c := s[i]
	if isDigit(c) {
		if i+4 < len(s) && isDigit(s[i+1]) && isDigit(s[i+2]) && isDigit(s[i+3]) && !isDigit(s[i+4]) {
			if st, n, ok := parseISO(s, i); ok {
				return st, n, true
			}
		}
		if st, n, ok := parseShortDate(s, i); ok {
			return st, n, true
		}
		if st, n, ok := parseCLF(s, i); ok {
			return st, n, true
		}
		if st, n, ok := parseDayMonth(s, i); ok {
			return st, n, true
		}
		return parseUSDate(s, i)
	}
	if isWeekday(s, i) {
		return parseCtime(s, i)
	}
	return parseSyslogTime(s, i)
}

// epoch reads a 10-digit Unix time in seconds (optionally with a fraction).
func epoch(s string, i int) (time.Time, int, bool) {
	v, ok := num(s, i, 10)
	if !ok || (i+10 < len(s) && isDigit(s[i+10])) {
		return time.Time{}, 0, false
	}
	ns, end := fraction(s, i+10)
	if end > i+10 && s[i+10] != '.' {
		ns, end = 0, i+10
	}
	return time.Unix(int64(v), int64(ns)).UTC(), end, true
}

// parseDayMonth reads "01 Mar 2024 12:00:00.123" (Redis, RFC 2822 dates).
func parseDayMonth(s string, i int) (stamp, int, bool) {
	d, n, ok := num12(s, i)
	if !ok || i+n+1 >= len(s) || s[i+n] != ' ' {
		return stamp{}, 0, false
	}
	j := i + n + 1
	mon, ok := month(s, j)
	if !ok || j+3 >= len(s) || s[j+3] != ' ' {
		return stamp{}, 0, false
	}
	y, ok := num(s, j+4, 4)
	if !ok || j+8 >= len(s) || s[j+8] != ' ' {
		return stamp{}, 0, false
	}
	h, m, sec, ns, end, ok := clock(s, j+9, ':')
	if !ok {
		return stamp{}, 0, false
	}
	st := stamp{year: y, mon: mon, day: d, h: h, m: m, s: sec, ns: ns}
	if off, e, ok := zone(s, end); ok {
		st.off, st.zoned, end = off, true, e
	}
	return st, end, st.valid()
}
