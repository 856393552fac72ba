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

// decodeJSON reads the body into dst and validates it. It writes the
// problem and returns false if anything is wrong. It returns the raw body
// for idempotency fingerprints.
func (s *server) decodeJSON(w http.ResponseWriter, r *http.Request, dst any) ([]byte, bool) {
	if ct := r.Header.Get("Content-Type"); !isJSON(ct) {
		writeProblem(w, r, Problem{Status: http.StatusUnsupportedMediaType,
			Detail: fmt.Sprintf("The request body must be sent as application/json, not %q.", ct)})
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
	} else if errs := fieldErrorsOf(decodeFields(body, dst)); len(errs) > 0 {
		invalid(w, r, errs)
		return nil, false
	}
	if err := s.check(dst); err != nil {
		s.fail(w, r, err)
		return nil, false
	}
	return body, true
}

func isJSON(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
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
func decodeFields(body []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	return dec.Decode(dst)
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
