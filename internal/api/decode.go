package api

import (
	"bytes"
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
// A body must also mean one thing to every reader: the headers that say
// how to read it (Content-Type, its charset, Content-Encoding) must be
// given once and say UTF-8 JSON, unencoded (400 and 415 otherwise), or a
// proxy in front of the service and the service could read one request
// as two different ones.

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

// decodeFields decodes a well-formed object into dst, rejecting unknown
// fields and values of the wrong type.
func decodeFields(body []byte, dst any) []FieldError {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	return fieldErrorsOf(dec.Decode(dst))
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
