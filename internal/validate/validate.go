// Package validate checks values against their `validate` struct tags
// (go-playground/validator) with this service's extra rules, and reports
// problems as an apperr.Invalid error naming each field by its JSON name.
// Domain types call it from their Validate methods, so that the HTTP edge,
// a worker and the watcher apply the same rules without HTTP.
package validate

import (
	"bytes"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/go-playground/validator/v10"

	"github.com/rca-engine/api/internal/apperr"
)

// Validator checks structs. It is safe for concurrent use; build one and
// share it (validator caches each struct's rules).
type Validator struct{ v *validator.Validate }

// New returns a Validator that names fields by their JSON names and knows
// the extra rules:
//   - object: absent, null or a JSON object (for json.RawMessage fields);
//   - text: valid UTF-8 without control characters (PostgreSQL cannot
//     store NUL, and a terminal or log viewer should not get escapes).
func New() *Validator {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			return ""
		}
		return name
	})
	_ = v.RegisterValidation("object", func(fl validator.FieldLevel) bool {
		raw := bytes.TrimSpace(fl.Field().Bytes())
		return len(raw) == 0 || string(raw) == "null" || raw[0] == '{'
	})
	_ = v.RegisterValidation("text", func(fl validator.FieldLevel) bool {
		return Text(fl.Field().String())
	})
	return &Validator{v: v}
}

// Text reports whether s is valid UTF-8 without control characters.
func Text(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

// std backs the package-level Struct. It is never changed after it is
// built: a cache of each struct's rules, not state (validator.Validate is
// meant to be built once and shared).
var std = New()

// Struct checks v's tags with the shared Validator.
func Struct(v any) error { return std.Struct(v) }

// Struct checks v's tags. It returns nil or an *apperr.Error of kind
// Invalid whose Fields list every broken rule.
func (val *Validator) Struct(v any) error {
	err := val.v.Struct(v)
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) {
		// Anything else (a value that is not a struct) is the caller's
		// bug: an internal error, never a silent pass.
		return err
	}
	fields := make([]apperr.Field, 0, len(verrs))
	for _, fe := range verrs {
		name := fe.Namespace()
		if _, rest, ok := strings.Cut(name, "."); ok {
			name = rest
		}
		fields = append(fields, apperr.Field{Name: name, Message: message(fe)})
	}
	return Fields(fields...)
}

// Fields returns an Invalid error for the given field problems, with a
// detail that names the one field or counts them.
func Fields(fields ...apperr.Field) error {
	if len(fields) == 0 {
		return nil
	}
	msg := "The request has " + strconv.Itoa(len(fields)) + " invalid values; see errors."
	if len(fields) == 1 {
		msg = "Invalid " + fields[0].Name + ": " + fields[0].Message + "."
	}
	return &apperr.Error{Kind: apperr.Invalid, Message: msg, Fields: fields}
}

func message(fe validator.FieldError) string {
	isText := fe.Kind() == reflect.String
	switch fe.Tag() {
	case "required":
		return "is required"
	case "max":
		if isText {
			return "must be at most " + fe.Param() + " characters"
		}
		return "must be at most " + fe.Param()
	case "min":
		if isText && fe.Param() == "1" {
			return "must not be empty"
		}
		if isText {
			return "must be at least " + fe.Param() + " characters"
		}
		return "must be at least " + fe.Param()
	case "oneof":
		return "must be one of " + strings.ReplaceAll(fe.Param(), " ", ", ")
	case "uuid":
		return "must be a UUID"
	case "http_url":
		return "must be an http or https URL"
	case "email":
		return "must be an email address"
	case "excludesall":
		return "must not contain " + fe.Param()
	case "object":
		return "must be a JSON object"
	case "text":
		return "must be text without control characters"
	}
	return "is invalid (" + fe.Tag() + ")"
}
