package logparse

import (
	"strconv"
	"strings"
)

// csvLayout says which columns of a Windows event CSV hold what. Event
// Viewer's "Save as CSV" writes "Level,Date and Time,Source,Event ID,Task
// Category" and the description as a sixth, unnamed column; PowerShell's
// Export-Csv writes quoted property names (TimeCreated, LevelDisplayName,
// ProviderName, Id, Message; or EntryType, TimeGenerated, Source, Message).
type csvLayout struct {
	level, time, source, id, msg int
}

func csvHeader(line string) *csvLayout {
	if strings.HasPrefix(line, "#TYPE") {
		return nil // PowerShell's type line comes first; the header is the next line
	}
	if strings.IndexByte(line, ',') < 0 {
		return nil
	}
	fields := splitCSV(line, nil)
	lay := &csvLayout{level: -1, time: -1, source: -1, id: -1, msg: -1}
	for i, f := range fields {
		// English, German and French Event Viewer, and PowerShell's names.
		switch strings.ToLower(strings.TrimSpace(f)) {
		case "level", "leveldisplayname", "entrytype", "type", "ebene", "niveau":
			lay.level = i
		case "date and time", "timecreated", "timegenerated", "date", "time", "timestamp", "datum und uhrzeit", "date et heure":
			if lay.time < 0 {
				lay.time = i
			}
		case "source", "providername", "provider", "quelle":
			lay.source = i
		case "event id", "id", "eventid", "instanceid", "ereignis-id", "id de l’événement", "id de l'événement":
			lay.id = i
		case "message", "description", "beschreibung":
			lay.msg = i
		}
	}
	if lay.level < 0 || lay.time < 0 || (lay.source < 0 && lay.id < 0) {
		return nil
	}
	if lay.msg < 0 {
		lay.msg = len(fields) // Event Viewer's unnamed description column
	}
	return lay
}

// splitCSV splits one CSV record (RFC 4180 quoting, which may span lines).
func splitCSV(s string, out []string) []string {
	out = out[:0]
	i := 0
	for {
		if i < len(s) && s[i] == '"' {
			var b strings.Builder
			j := i + 1
			for j < len(s) {
				if s[j] == '"' {
					if j+1 < len(s) && s[j+1] == '"' {
						b.WriteByte('"')
						j += 2
						continue
					}
					break
				}
				b.WriteByte(s[j])
				j++
			}
			out = append(out, b.String())
			j++ // closing quote
			for j < len(s) && s[j] != ',' {
				j++
			}
			if j >= len(s) {
				return out
			}
			i = j + 1
			continue
		}
		k := strings.IndexByte(s[i:], ',')
		if k < 0 {
			return append(out, s[i:])
		}
		out = append(out, s[i:i+k])
		i += k + 1
	}
}

func (lay *csvLayout) parse(s string, p *parsed) bool {
	if lay == nil {
		return false
	}
	var buf [16]string
	f := splitCSV(s, buf[:0])
	if len(f) <= lay.time || len(f) <= lay.level {
		return false
	}
	st, _, ok := parseStampAt(strings.TrimSpace(f[lay.time]), 0)
	if !ok {
		return false
	}
	p.st, p.hasStamp = st, true
	lvName := strings.TrimSpace(f[lay.level])
	if lv, ok := ParseLevel(lvName); ok {
		p.level = lv
	} else {
		switch strings.ToLower(lvName) {
		case "audit failure", "failureaudit", "überwachung fehlgeschlagen", "échec de l’audit", "échec de l'audit":
			p.level = LevelWarn
		case "audit success", "successaudit", "informationen", "überwachung erfolgreich", "succès de l’audit", "succès de l'audit":
			p.level = LevelInfo
		case "fehler", "erreur":
			p.level = LevelError
		case "warnung", "avertissement":
			p.level = LevelWarn
		case "kritisch", "critique":
			p.level = LevelCritical
		case "ausführlich", "commentaires":
			p.level = LevelTrace
		default:
			if n, err := strconv.Atoi(lvName); err == nil {
				p.level = eventLevel(n)
			}
		}
	}
	if lay.source >= 0 && lay.source < len(f) {
		p.comp = strings.TrimSpace(f[lay.source])
	}
	if lay.msg < len(f) {
		p.msg = strings.TrimSpace(f[lay.msg])
	}
	if p.msg == "" && lay.id >= 0 && lay.id < len(f) {
		p.msg = "Event ID " + strings.TrimSpace(f[lay.id])
	}
	return true
}

// eventLevel maps Windows event levels: 1 critical, 2 error, 3 warning,
// 4 information, 5 verbose (0 is "log always").
func eventLevel(n int) Level {
	switch n {
	case 1:
		return LevelCritical
	case 2:
		return LevelError
	case 3:
		return LevelWarn
	case 5:
		return LevelTrace
	default:
		return LevelInfo
	}
}

// parseEventXML reads an <Event> record as wevtutil and Event Viewer export
// it: the time from TimeCreated's SystemTime, the level, the provider as the
// component, and the rendered message (or the event id and its data).
func parseEventXML(s string, p *parsed) bool {
	k := strings.Index(s, "<Event")
	if k < 0 || k+6 >= len(s) || (s[k+6] != ' ' && s[k+6] != '>') {
		return false
	}
	s = s[k:]
	if v, ok := xmlAttr(s, "<TimeCreated", "SystemTime"); ok {
		if st, _, ok := parseISO(v, 0); ok {
			p.st, p.hasStamp = st, true
		}
	}
	if v, ok := xmlAttr(s, "<Provider", "Name"); ok {
		p.comp = v
	}
	rendering := ""
	if r := strings.Index(s, "<RenderingInfo"); r >= 0 {
		rendering = s[r:]
		s = s[:r]
	}
	if v, ok := xmlText(rendering, "Level"); ok {
		if lv, ok := ParseLevel(v); ok {
			p.level = lv
		}
	}
	if p.level == LevelUnknown {
		if v, ok := xmlText(s, "Level"); ok {
			if n, err := strconv.Atoi(v); err == nil {
				p.level = eventLevel(n)
			}
		}
	}
	if v, ok := xmlText(rendering, "Message"); ok && v != "" {
		p.msg = xmlUnescape(v)
		return true
	}
	var b strings.Builder
	if id, ok := xmlText(s, "EventID"); ok {
		b.WriteString("EventID ")
		b.WriteString(id)
	}
	rest := s
	for {
		d := strings.Index(rest, "<Data")
		if d < 0 {
			break
		}
		rest = rest[d:]
		gt := strings.IndexByte(rest, '>')
		if gt < 0 || rest[gt-1] == '/' {
			if gt < 0 {
				break
			}
			rest = rest[gt+1:]
			continue
		}
		end := strings.Index(rest, "</Data>")
		if end < 0 {
			break
		}
		b.WriteByte(' ')
		b.WriteString(xmlUnescape(rest[gt+1 : end]))
		rest = rest[end:]
	}
	p.msg = b.String()
	return true
}

func xmlAttr(s, elem, attr string) (string, bool) {
	e := strings.Index(s, elem)
	if e < 0 {
		return "", false
	}
	s = s[e:]
	if gt := strings.IndexByte(s, '>'); gt >= 0 {
		s = s[:gt]
	}
	a := strings.Index(s, attr+"=")
	if a < 0 || a+len(attr)+2 > len(s) {
		return "", false
	}
	q := s[a+len(attr)+1]
	if q != '\'' && q != '"' {
		return "", false
	}
	v := s[a+len(attr)+2:]
	end := strings.IndexByte(v, q)
	if end < 0 {
		return "", false
	}
	return xmlUnescape(v[:end]), true
}

func xmlText(s, elem string) (string, bool) {
	e := strings.Index(s, "<"+elem)
	for e >= 0 {
		after := s[e+1+len(elem):]
		if after != "" && (after[0] == '>' || after[0] == ' ') {
			gt := strings.IndexByte(after, '>')
			if gt < 0 || (gt > 0 && after[gt-1] == '/') {
				return "", false
			}
			body := after[gt+1:]
			end := strings.Index(body, "</"+elem+">")
			if end < 0 {
				return "", false
			}
			return strings.TrimSpace(body[:end]), true
		}
		n := strings.Index(after, "<"+elem)
		if n < 0 {
			return "", false
		}
		s = after
		e = n
	}
	return "", false
}

var xmlEntities = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&quot;", `"`, "&apos;", "'", "&#13;", "", "&#10;", "\n", "&amp;", "&")

func xmlUnescape(s string) string {
	if strings.IndexByte(s, '&') < 0 {
		return s
	}
	return xmlEntities.Replace(s)
}
