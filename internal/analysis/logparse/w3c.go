package logparse

import "strings"

// w3cLayout is the "#Fields:" directive of a W3C extended log (IIS, and
// other servers on Windows): which space-separated columns hold the date,
// the time and the status.
type w3cLayout struct {
	date, time, status, n int
}

func w3cFields(line string) *w3cLayout {
	rest, ok := strings.CutPrefix(line, "#Fields:")
	if !ok {
		return nil
	}
	lay := &w3cLayout{date: -1, time: -1, status: -1}
	for i, f := range strings.Fields(rest) {
		switch f {
		case "date":
			lay.date = i
		case "time":
			lay.time = i
		case "sc-status":
			lay.status = i
		}
		lay.n = i + 1
	}
	if lay.time < 0 {
		return nil
	}
	return lay
}

// parse reads one entry: the date and time (UTC, as the format defines),
// the status as the level, and the line without its date and time as the
// message.
func (lay *w3cLayout) parse(s string, p *parsed) bool {
	if lay == nil || s == "" || s[0] == '#' {
		return false
	}
	var f [32]string
	var start [32]int
	n, i := 0, 0
	for i < len(s) && n < len(f) {
		i = skipSpaces(s, i)
		if i >= len(s) {
			break
		}
		start[n] = i
		f[n], i = token(s, i)
		n++
	}
	if n < lay.n || lay.time >= n {
		return false
	}
	var stampText string
	msgFrom := start[lay.time] + len(f[lay.time])
	if lay.date >= 0 && lay.date < n {
		stampText = f[lay.date] + " " + f[lay.time]
		if lay.date > lay.time {
			msgFrom = start[lay.date] + len(f[lay.date])
		}
	} else {
		return false
	}
	st, _, ok := parseISO(stampText, 0)
	if !ok {
		return false
	}
	st.zoned = true // W3C extended logs are in UTC
	p.st, p.hasStamp = st, true
	if lay.status >= 0 && lay.status < n {
		if code, ok := num(f[lay.status], 0, 3); ok && len(f[lay.status]) == 3 {
			switch {
			case code >= 500:
				p.level = LevelError
			case code >= 400:
				p.level = LevelWarn
			default:
				p.level = LevelInfo
			}
		}
	}
	if lay.date == 0 && lay.time == 1 {
		p.suffix(s, skipSpaces(s, msgFrom))
	} else {
		p.msg = strings.Join(f[:n], " ") // the columns in their order, date and time included
	}
	return true
}
