package api

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/rca-engine/api/internal/idempotency"
)

// idempotencyKey reads the Idempotency-Key header: an RFC 8941 string
// (quoted) per the IETF draft, or the bare token most clients send. It
// writes a 400 and returns false if the key is malformed or given more
// than once. The draft makes the header an sf-string Item, which cannot
// be a list: two header lines, or a comma outside quotes (which is what
// a proxy makes of two lines when it joins them, RFC 9110 §5.3), would
// otherwise leave the service and whatever sits in front of it to pick
// different keys for one request.
func idempotencyKey(w http.ResponseWriter, r *http.Request) (string, bool) {
	if !singleHeader(w, r, "Idempotency-Key") {
		return "", false
	}
	v := r.Header.Get("Idempotency-Key")
	if v == "" {
		return "", true
	}
	key, many, ok := parseIdempotencyKey(v)
	switch {
	case many:
		writeProblem(w, r, Problem{Status: http.StatusBadRequest,
			Detail: "The Idempotency-Key header is given more than once (a comma-separated list); send one key."})
		return "", false
	case !ok:
		writeProblem(w, r, Problem{Status: http.StatusBadRequest,
			Detail: "Idempotency-Key must be 1 to 255 visible ASCII characters, such as a UUID."})
		return "", false
	}
	return key, true
}

// parseIdempotencyKey reads one key, quoted or bare. many reports a list;
// ok a well-formed key (1 to 255 visible ASCII characters, without '"' or
// '\\', so a quoted key needs no unescaping). A comma is part of a key
// only inside quotes.
func parseIdempotencyKey(v string) (key string, many, ok bool) {
	if strings.HasPrefix(v, `"`) {
		end := strings.IndexByte(v[1:], '"')
		if end < 0 {
			return "", false, false // unterminated
		}
		key = v[1 : 1+end]
		switch rest := strings.TrimLeft(v[2+end:], " \t"); {
		case strings.HasPrefix(rest, ","):
			return "", true, false
		case rest != "":
			return "", false, false
		}
	} else {
		if strings.Contains(v, ",") {
			return "", true, false
		}
		key = v
	}
	ok = len(key) >= 1 && len(key) <= 255
	for i := 0; ok && i < len(key); i++ {
		ok = key[i] > 0x20 && key[i] < 0x7f && key[i] != '"' && key[i] != '\\'
	}
	return key, false, ok
}

// writeOnce runs a state-changing use case at most once per
// Idempotency-Key and answers with its response, or with the stored one on
// a retry. op calls one service method in the transaction it is given
// (the one the stored response commits in) and returns the status, the
// value to send and the Location, if any. Announcing the events of the
// write is the event log's business, after commit; nothing to do here.
func (s *server) writeOnce(w http.ResponseWriter, r *http.Request, body []byte,
	op func(ctx context.Context, tx *idempotency.Tx) (status int, v any, location string, err error)) {
	key, ok := idempotencyKey(w, r)
	if !ok {
		return
	}
	// A key is the caller's own: another principal reusing it gets its own
	// operation, not the first caller's stored response.
	scope := r.Method + " " + strings.TrimSuffix(r.URL.Path, "/")
	if p, ok := principalOf(r.Context()); ok {
		scope += " " + p.User.ID.String()
	}
	req := idempotency.Request{Key: key, Scope: scope}
	req.Fingerprint = sha256.Sum256(body)
	resp, replayed, err := s.idem.Run(r.Context(), req, func(ctx context.Context, tx *idempotency.Tx) (idempotency.Response, error) {
		status, v, location, err := op(ctx, tx)
		if err != nil {
			return idempotency.Response{}, err
		}
		b, err := json.Marshal(v)
		if err != nil {
			return idempotency.Response{}, err
		}
		return idempotency.Response{Status: status, Body: append(b, '\n'), Location: location}, nil
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	if resp.Location != "" {
		w.Header().Set("Location", resp.Location)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(resp.Status)
	w.Write(resp.Body)
}
