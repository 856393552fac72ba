package logparse

import "strings"

// ParseLevel normalises a level token as the formats write it ("ERROR",
// "warning", "E", "crit", "SEVERE", "Information", "LOG", "5"...). It looks at
// the token only: a level is a field of the header, never a word found
// somewhere in the message.
func ParseLevel(tok string) (Level, bool) {
	tok = strings.TrimRight(tok, ":")
	if len(tok) == 1 {
		return letterLevel(tok[0])
	}
	if len(tok) < 2 || len(tok) > 13 {
		return LevelUnknown, false
	}
	var buf [13]byte
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	switch string(buf[:len(tok)]) {
	case "trace", "trc", "finest", "finer", "verbose", "vrb", "debug5", "debug4", "debug3", "debug2":
		return LevelTrace, true
	case "debug", "dbg", "fine", "debug1":
		return LevelDebug, true
	case "info", "inf", "information", "informational":
		return LevelInfo, true
	case "notice", "ntc":
		return LevelNotice, true
	case "warn", "warning", "wrn":
		return LevelWarn, true
	case "error", "err", "erro", "eror", "severe":
		return LevelError, true
	case "critical", "crit", "crt", "fatal", "ftl", "panic", "emerg", "emergency", "alert", "assert":
		return LevelCritical, true
	}
	return LevelUnknown, false
}

// letterLevel reads the one-letter levels of logcat and klog (V D I W E F A).
func letterLevel(c byte) (Level, bool) {
	switch c {
	case 'V', 'T':
		return LevelTrace, true
	case 'D':
		return LevelDebug, true
	case 'I':
		return LevelInfo, true
	case 'N':
		return LevelNotice, true
	case 'W':
		return LevelWarn, true
	case 'E':
		return LevelError, true
	case 'F', 'A', 'C':
		return LevelCritical, true
	}
	return LevelUnknown, false
}

// syslogSeverity maps RFC 5424 severities (PRI & 7) to levels.
func syslogSeverity(sev int) Level {
	switch sev {
	case 0, 1, 2:
		return LevelCritical
	case 3:
		return LevelError
	case 4:
		return LevelWarn
	case 5:
		return LevelNotice
	case 6:
		return LevelInfo
	default:
		return LevelDebug
	}
}

// numericLevel maps the numbers that JSON loggers write: bunyan/pino
// (10..60), Windows event levels (1..5) are handled by their own parser.
func numericLevel(n int) (Level, bool) {
	switch {
	case n >= 60:
		return LevelCritical, true
	case n >= 50:
		return LevelError, true
	case n >= 40:
		return LevelWarn, true
	case n >= 30:
		return LevelInfo, true
	case n >= 20:
		return LevelDebug, true
	case n >= 10:
		return LevelTrace, true
	}
	return LevelUnknown, false
}

// isLevelWord reports whether tok is a level written out in full (not a
// single letter): those may stand in a header without other clues.
func isLevelWord(tok string) (Level, bool) {
	if len(strings.TrimRight(tok, ":")) < 3 {
		return LevelUnknown, false
	}
	return ParseLevel(tok)
}
