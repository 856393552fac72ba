package api

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf8"
)

// Request bodies are decoded strictly: a body must be one JSON object, in
// UTF-8, with no trailing data, and with no field the route does not know.
// Unknown fields are rejected (422) rather than ignored, so a misspelt
// field ("dryrun") is reported instead of silently falling back to its
// default, which for dry_run would file a real ticket.
//
// A body must also mean one thing to every reader, or a proxy, a WAF or a
// reviewer's tool in front of the service could approve one request and
// the service carry out another. Go's decoder lets the last of two equal
// keys win and matches field names without regard to case, where other
// readers may keep the first key or compare names exactly:
// {"dry_run":true,"Dry_Run":false} is a dry run to them and a real ticket
// here. So a repeated key, or a key that differs from a field only in
// case, is a 422 naming it (strictKeys); and the headers that say how to
// read the body (Content-Type, its charset, Content-Encoding) must be
// given once and say UTF-8 JSON, unencoded (400 and 415 otherwise).

// decodeJSON reads the body into dst and validates it. It writes the
// problem and returns false if anything is wrong. It returns the raw body
// for idempotency fingerprints.
func (s *server) decodeJSON(w http.ResponseWriter, r *http.Request, dst any) ([]byte, bool) {
	if !singleHeader(w, r, "Content-Type") {
		return nil, false
	}
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || !isJSON(mt) {
		writeProblem(w, r, Problem{Status: http.StatusUnsupportedMediaType,
			Detail: fmt.Sprintf("The request body must be sent as application/json, not %q.", ct)})
		return nil, false
	}
	// JSON is UTF-8 (RFC 8259 §8.1); a client that says otherwise would
	// have its text read wrongly rather than refused.
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		writeProblem(w, r, Problem{Status: http.StatusUnsupportedMediaType, Detail: fmt.Sprintf(
			"The request body must be UTF-8: send Content-Type: application/json with charset=utf-8 or no charset, not charset=%q.", cs)})
		return nil, false
	}
	if !unencoded(w, r) {
		return nil, false
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeProblem(w, r, Problem{Status: http.StatusRequestEntityTooLarge,
				Detail: fmt.Sprintf("The request body is larger than the %d bytes allowed.", tooBig.Limit)})
			return nil, false
		}
		// The client stopped sending mid-body (or went away).
		writeProblem(w, r, Problem{Status: http.StatusBadRequest, Detail: "The request body could not be read completely."})
		return nil, false
	}
	if detail := decodeBody(body); detail != "" {
		writeProblem(w, r, Problem{Status: http.StatusBadRequest, Detail: detail})
		return nil, false
	} else if errs := decodeFields(body, dst); len(errs) > 0 {
		invalid(w, r, errs)
		return nil, false
	}
	if err := s.check(dst); err != nil {
		s.fail(w, r, err)
		return nil, false
	}
	return body, true
}

// isJSON reports whether the media type mt (parsed, lower case) is JSON.
func isJSON(mt string) bool {
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

// singleHeader answers 400 and returns false if the request gives the
// header name more than once. Readers disagree on which of two lines
// counts (Go's Header.Get takes the first, others the last or both), so
// the service refuses to guess.
func singleHeader(w http.ResponseWriter, r *http.Request, name string) bool {
	if len(r.Header.Values(name)) <= 1 {
		return true
	}
	writeProblem(w, r, Problem{Status: http.StatusBadRequest,
		Detail: fmt.Sprintf("The %s header is given more than once; send it once.", name)})
	return false
}

// unencoded answers 415 and returns false unless the body has no content
// coding (no Content-Encoding, or only identity). Nothing here inflates a
// body, and reading gzip bytes as JSON or as a form would only produce a
// misleading error further on. Accept-Encoding in the answer says what is
// accepted (RFC 9110 §15.5.16).
func unencoded(w http.ResponseWriter, r *http.Request) bool {
	for _, line := range r.Header.Values("Content-Encoding") {
		for _, coding := range strings.Split(line, ",") {
			if c := strings.TrimSpace(coding); c != "" && !strings.EqualFold(c, "identity") {
				w.Header().Set("Accept-Encoding", "identity")
				writeProblem(w, r, Problem{Status: http.StatusUnsupportedMediaType, Detail: fmt.Sprintf(
					"The request body must not be compressed or otherwise encoded: send it without Content-Encoding (or with identity), not %q.", c)})
				return false
			}
		}
	}
	return true
}

// decodeBody checks the body's form and returns a 400 detail, or "".
func decodeBody(body []byte) string {
	trimmed := bytes.TrimSpace(body)
	switch {
	case len(trimmed) == 0:
		return "The request body is empty; send a JSON object."
	case !utf8.Valid(body):
		return "The request body is not valid UTF-8."
	case trimmed[0] != '{':
		return "The request body must be a JSON object."
	case !json.Valid(body):
		// Locate the error for the client.
		var v any
		err := json.Unmarshal(body, &v)
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return fmt.Sprintf("The request body is not valid JSON: %s (at byte %d).", syn.Error(), syn.Offset)
		}
		return "The request body is not valid JSON: there is data after the object."
	}
	return ""
}

// decodeFields decodes a well-formed object into dst, rejecting repeated
// keys, keys that match a field only without regard to case, unknown
// fields and values of the wrong type.
func decodeFields(body []byte, dst any) []FieldError {
	if errs := strictKeys(body, reflect.TypeOf(dst)); len(errs) > 0 {
		return errs
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	return fieldErrorsOf(dec.Decode(dst))
}

// maxKeyErrors bounds the errors one body can produce: a megabyte of
// repeated keys must not become a bigger answer.
const maxKeyErrors = 20

// strictKeys scans a body that decodeBody has found well-formed, in one
// pass, beside the Go type it will be decoded into, and names every key
// that Go's decoder would accept but read differently from other JSON
// readers:
//
//   - a key given twice in one object, at any depth. Inside the free-form
//     objects too (json.RawMessage fields such as input_manifest or a
//     ticket's payload, maps): they are stored as jsonb and merged into
//     the tickets sent to ServiceNow and Jira, and jsonb keeps the last
//     of two keys where another reader may keep the first, so what a
//     proxy approved and what the service files could differ just the
//     same. RFC 8259 leaves such objects' meaning open, I-JSON (RFC 7493)
//     forbids them, and no JSON encoder produces them;
//   - a key that equals a struct field's name only without regard to case
//     ("Dry_Run" for dry_run), which Go's decoder assigns to that field.
//     Only where the body meets a struct: in free-form objects keys are
//     data and case-sensitive ("Host" and "host" are two keys there).
//
// Unknown keys are left to the decoder (DisallowUnknownFields), which
// reports them as before.
//
// It scans the bytes itself rather than through json.Decoder.Token, which
// allocates for every value and took ~90 ms for a megabyte of small
// values; keys are unescaped (by encoding/json) only when they hold a
// backslash, and scalar values are skipped, not decoded.
func strictKeys(body []byte, t reflect.Type) []FieldError {
	sc := keyScanner{b: body}
	if err := sc.value(t); err != nil && !errors.Is(err, errEnoughErrors) {
		// decodeBody has checked the syntax, so this does not happen;
		// if it did, the decoder would report what this scan could not.
		return nil
	}
	return sc.errs
}

var (
	errEnoughErrors = errors.New("enough key errors")
	errMalformed    = errors.New("malformed JSON")
)

// keyScanner reads well-formed JSON from b at i. path is where it is, for
// naming a key: the keys and array indexes of the values it is inside.
type keyScanner struct {
	b    []byte
	i    int
	path []pathStep
	errs []FieldError
}

type pathStep struct {
	key   string
	index int // for an array element; key is then ""
	elem  bool
}

// name renders the path with key appended: payloads.jira, files[1].n.
func (sc *keyScanner) name(key string) string {
	var b strings.Builder
	for _, st := range sc.path {
		if st.elem {
			fmt.Fprintf(&b, "[%d]", st.index)
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(st.key)
	}
	if b.Len() > 0 {
		b.WriteByte('.')
	}
	b.WriteString(key)
	return b.String()
}

func (sc *keyScanner) fail(key, message string) error {
	sc.errs = append(sc.errs, FieldError{Field: sc.name(key), Message: message})
	if len(sc.errs) >= maxKeyErrors {
		return errEnoughErrors
	}
	return nil
}

func (sc *keyScanner) space() {
	for sc.i < len(sc.b) {
		switch sc.b[sc.i] {
		case ' ', '\t', '\n', '\r':
			sc.i++
		default:
			return
		}
	}
}

// next skips white space and returns the next byte without consuming it.
func (sc *keyScanner) next() (byte, error) {
	sc.space()
	if sc.i >= len(sc.b) {
		return 0, errMalformed
	}
	return sc.b[sc.i], nil
}

// value reads one value whose Go type is t (nil: free-form).
func (sc *keyScanner) value(t reflect.Type) error {
	c, err := sc.next()
	if err != nil {
		return err
	}
	switch c {
	case '{':
		sc.i++
		return sc.object(t)
	case '[':
		sc.i++
		return sc.array(elemType(t))
	case '"':
		_, err := sc.str(false)
		return err
	}
	// A number, true, false or null: up to the next delimiter.
	for sc.i < len(sc.b) && !strings.ContainsRune(",]} \t\n\r", rune(sc.b[sc.i])) {
		sc.i++
	}
	return nil
}

func (sc *keyScanner) array(elem reflect.Type) error {
	if c, err := sc.next(); err != nil || c == ']' {
		sc.i++
		return err
	}
	sc.path = append(sc.path, pathStep{elem: true})
	defer func() { sc.path = sc.path[:len(sc.path)-1] }()
	for n := 0; ; n++ {
		sc.path[len(sc.path)-1].index = n
		if err := sc.value(elem); err != nil {
			return err
		}
		c, err := sc.next()
		if err != nil {
			return err
		}
		sc.i++
		if c == ']' {
			return nil
		}
	}
}

func (sc *keyScanner) object(t reflect.Type) error {
	fields := structFields(t)
	var free reflect.Type
	if fields == nil {
		free = elemType(t)
	}
	seen := map[string]int{}
	if c, err := sc.next(); err != nil || c == '}' {
		sc.i++
		return err
	}
	for {
		if _, err := sc.next(); err != nil {
			return err
		}
		key, err := sc.str(true)
		if err != nil {
			return err
		}
		if c, err := sc.next(); err != nil || c != ':' {
			return errMalformed
		}
		sc.i++
		seen[key]++
		next := free
		switch {
		case seen[key] == 2:
			err = sc.fail(key, "is given more than once")
		case fields != nil:
			if f, exact := fields[key]; exact {
				next = f
			} else if known := foldMatch(fields, key); known != "" && seen[key] == 1 {
				err = sc.fail(key, "is not a known field; did you mean "+known+"?")
			}
		}
		if err != nil {
			return err
		}
		sc.path = append(sc.path, pathStep{key: key})
		err = sc.value(next)
		sc.path = sc.path[:len(sc.path)-1]
		if err != nil {
			return err
		}
		c, err := sc.next()
		if err != nil {
			return err
		}
		sc.i++
		if c == '}' {
			return nil
		}
	}
}

// str reads a string at i (its opening quote) and, if want, returns its
// value: as it is, or unescaped by encoding/json when it has escapes.
func (sc *keyScanner) str(want bool) (string, error) {
	if sc.i >= len(sc.b) || sc.b[sc.i] != '"' {
		return "", errMalformed
	}
	start, escaped := sc.i, false
	for sc.i++; sc.i < len(sc.b); sc.i++ {
		switch sc.b[sc.i] {
		case '\\':
			escaped = true
			sc.i++ // the escaped byte cannot end the string
		case '"':
			sc.i++
			raw := sc.b[start:sc.i]
			switch {
			case !want:
				return "", nil
			case !escaped:
				return string(raw[1 : len(raw)-1]), nil
			}
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return "", fmt.Errorf("%w: %w", errMalformed, err)
			}
			return s, nil
		}
	}
	return "", errMalformed
}

// foldMatch returns the field that Go's decoder would assign key to
// without an exact match (its rule is bytes.EqualFold), or "".
func foldMatch(fields map[string]reflect.Type, key string) string {
	for name := range fields {
		if strings.EqualFold(name, key) {
			return name
		}
	}
	return ""
}

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// concrete strips pointers, and reports nil for a type that decodes
// itself (json.RawMessage, time.Time, uuid.UUID) or takes anything (any):
// what is inside such a value is free-form.
func concrete(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() == reflect.Interface ||
		reflect.PointerTo(t).Implements(jsonUnmarshaler) || reflect.PointerTo(t).Implements(textUnmarshaler) {
		return nil
	}
	return t
}

// elemType is the type of t's elements (maps, slices, arrays), or nil.
func elemType(t reflect.Type) reflect.Type {
	t = concrete(t)
	if t == nil {
		return nil
	}
	switch t.Kind() {
	case reflect.Map, reflect.Slice, reflect.Array:
		return t.Elem()
	}
	return nil
}

// structFields maps the JSON names of t's fields to their types, by
// encoding/json's rules (tag name or field name, "-" skipped, untagged
// embedded structs promoted), or returns nil if t is not a struct.
func structFields(t reflect.Type) map[string]reflect.Type {
	t = concrete(t)
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	out := map[string]reflect.Type{}
	addFields(out, t, 0)
	return out
}

func addFields(out map[string]reflect.Type, t reflect.Type, depth int) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			if et := concrete(f.Type); et != nil && et.Kind() == reflect.Struct && depth < 10 {
				addFields(out, et, depth+1)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if _, shadowed := out[name]; !shadowed || depth == 0 {
			out[name] = f.Type
		}
	}
}

func fieldErrorsOf(err error) []FieldError {
	if err == nil {
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		field := typeErr.Field
		if field == "" {
			field = "body"
		}
		return []FieldError{{Field: field, Message: "must be " + describeKind(typeErr.Type)}}
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return []FieldError{{Field: strings.Trim(name, `"`), Message: "is not a known field"}}
	}
	return []FieldError{{Field: "body", Message: err.Error()}}
}

func describeKind(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number in range"
	case reflect.String:
		return "a string"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "a JSON object"
		}
		return "an array"
	}
	return "a " + t.Kind().String()
}

// check applies dst's rules: its own Validate method (a domain type,
// whose rules are the same for a worker or the watcher), else its tags.
func (s *server) check(dst any) error {
	if v, ok := dst.(interface{ Validate() error }); ok {
		return v.Validate()
	}
	return s.validate.Struct(dst)
}
