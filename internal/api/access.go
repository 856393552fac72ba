package api

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rca-engine/api/internal/auth"
	"github.com/rca-engine/api/internal/ratelimit"
)

const principalKey ctxKey = 100

// principalOf returns the authenticated caller, if any.
func principalOf(ctx context.Context) (auth.Principal, bool) {
	p, ok := ctx.Value(principalKey).(auth.Principal)
	return p, ok
}

// clientAddr returns the client's address as resolved by clientAddress.
func clientAddr(ctx context.Context) netip.Addr {
	if ri := infoOf(ctx); ri != nil {
		return ri.addr
	}
	return netip.Addr{}
}

// clientAddress resolves the client's address once, for rate limits and
// logs. X-Forwarded-For is believed only from trusted proxies, read from
// the right (the nearest hop) and stopping at the first untrusted address,
// so a client cannot choose its own address by sending the header.
func (s *server) clientAddress(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addr := peerAddr(r.RemoteAddr)
		if s.trusted(addr) {
			hops := r.Header.Values("X-Forwarded-For")
		walk:
			for i := len(hops) - 1; i >= 0; i-- {
				parts := strings.Split(hops[i], ",")
				for j := len(parts) - 1; j >= 0; j-- {
					hop, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
					if err != nil {
						break walk // garbage: keep the last address we could trust
					}
					addr = hop.Unmap()
					if !s.trusted(addr) {
						break walk
					}
				}
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), reqInfoKey, &reqInfo{addr: addr})))
	})
}

func peerAddr(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

func (s *server) trusted(a netip.Addr) bool {
	for _, p := range s.opts.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// secureRequest reports whether the client reached us over HTTPS, directly
// or through a trusted proxy that says so.
func (s *server) secureRequest(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	return s.trusted(peerAddr(r.RemoteAddr)) && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// bearer extracts the credential of an Authorization header. It reports
// ok=false for a header that is present but not a bearer credential, so
// that a malformed header is an error rather than an anonymous request.
func bearer(h string) (token string, present, ok bool) {
	if h == "" {
		return "", false, true
	}
	scheme, rest, found := strings.Cut(h, " ")
	token = strings.TrimSpace(rest)
	if !found || !strings.EqualFold(scheme, "Bearer") || token == "" || len(token) > 4096 ||
		strings.ContainsFunc(token, func(r rune) bool { return r <= ' ' || r > '~' }) {
		return "", true, false
	}
	return token, true, true
}

// authFailure is why a presented credential was not accepted, kept for the
// route to report if it needs a principal.
type authFailure struct{ err error }

const authFailureKey ctxKey = 200

// authenticate resolves a bearer credential, when one is presented, into a
// principal. It never refuses a request by itself: a route that needs a
// principal does that (with the reason kept here), and a route that does
// not ignores a bad or unverifiable credential, so that a stale token in a
// browser does not break public pages. Probes do not go through it: a
// token there would cost a database read on a route nothing limits.
func (s *server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, present, ok := bearer(r.Header.Get("Authorization"))
		if !present {
			next.ServeHTTP(w, r) // nothing to add: spare the request copy
			return
		}
		next.ServeHTTP(w, r.WithContext(s.identify(r.Context(), token, present, ok)))
	})
}

func (s *server) identify(ctx context.Context, token string, present, ok bool) context.Context {
	switch {
	case !present || s.auth == nil:
	case !ok:
		ctx = context.WithValue(ctx, authFailureKey, authFailure{&auth.TokenError{
			Reason: `the Authorization header must be "Bearer <token>"`}})
	default:
		p, err := s.auth.Authenticate(ctx, token)
		if err != nil {
			ctx = context.WithValue(ctx, authFailureKey, authFailure{err})
		} else {
			ctx = context.WithValue(ctx, principalKey, p)
		}
	}
	return ctx
}

// streamAuth is authenticate for event streams. EventSource cannot set
// headers, so a stream may carry its token as the access_token query
// parameter (taken out of the URL before anything logs or parses it; only
// this route group reads it). A stream lives for hours, so in mode "all"
// its credential is checked again every Options.StreamRecheck, and the
// stream ends once a logout, a revocation, a deactivation or the token's
// expiry refuses it; the client reconnects with a fresh token.
func (s *server) streamAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, present, ok := bearer(r.Header.Get("Authorization"))
		if q := r.URL.Query(); q.Has("access_token") {
			if !present {
				token, present, ok = q.Get("access_token"), true, true
			}
			q.Del("access_token")
			u := *r.URL
			u.RawQuery = q.Encode()
			r = r.Clone(r.Context())
			r.URL = &u
			r.RequestURI = u.RequestURI()
		}
		ctx := s.identify(r.Context(), token, present, ok)
		if _, signed := principalOf(ctx); signed && s.opts.AuthMode == auth.ModeAll {
			var cancel context.CancelFunc
			ctx, cancel = context.WithCancel(ctx)
			rechecked := make(chan struct{})
			go func() { defer close(rechecked); s.recheck(ctx, cancel, token) }()
			// The stream's goroutines end with the stream, not after it.
			defer func() { cancel(); <-rechecked }()
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// ifCredential applies the middleware mws (outermost first) only to
// requests that present an Authorization header.
func (s *server) ifCredential(mws ...func(http.Handler) http.Handler) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		with := next
		for i := len(mws) - 1; i >= 0; i-- {
			with = mws[i](with)
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") == "" {
				next.ServeHTTP(w, r)
				return
			}
			with.ServeHTTP(w, r)
		})
	}
}

// refuseBadCredential answers a stream request whose credential (the
// access_token parameter or the Authorization header) was refused with a
// 401 and its reason, in every mode. Other routes ignore a bad credential
// where none is needed, so that a stale token does not break public
// pages; a stream's token is there for the stream alone, and streaming
// anonymously to a client that believes itself signed in would hide the
// problem until the data it expected fails to come. A credential that
// could not be checked (the database is down) is not a refusal: need
// decides, as for any request without one. It runs after the read limit,
// so that guessing tokens on a stream is limited like any request.
func (s *server) refuseBadCredential(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f, ok := r.Context().Value(authFailureKey).(authFailure); ok && refused(f.err) {
			s.unauthenticated(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// refused reports whether err refuses a credential for good (as opposed to
// a failure to check it).
func refused(err error) bool {
	var tokErr *auth.TokenError
	return errors.As(err, &tokErr) || errors.Is(err, auth.ErrSessionEnded) || errors.Is(err, auth.ErrInactive)
}

// sameSiteSignIn refuses sign-in and registration requests that a browser
// sends on another site's behalf (login CSRF: a page that signs its
// visitor in as the attacker, whose account then receives what the
// visitor types). Browsers say where a request comes from: Sec-Fetch-Site
// (same-origin, or none for what the user typed) and Origin. A request is
// let through when the browser calls it same-origin or none, or when its
// Origin is one CORS_ALLOWED_ORIGINS lists (a separate frontend, such as
// the original Next.js UI, signs in from there); and, from browsers that
// send Origin without Sec-Fetch-Site, when Origin names this host. Without
// either header (curl, scripts, other services) nothing is checked:
// forging a request needs a browser, and browsers send them.
func (s *server) sameSiteSignIn(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		site, origin := r.Header.Get("Sec-Fetch-Site"), r.Header.Get("Origin")
		allowed := true
		switch {
		case site == "same-origin" || site == "none":
		case origin != "" && s.originAllowed(r, origin):
		case site != "":
			allowed = false
		case origin != "":
			allowed = sameHost(origin, r.Host)
		}
		if !allowed {
			writeProblem(w, r, Problem{Type: typeForbidden, Status: http.StatusForbidden, Title: "Cross-site sign-in refused",
				Detail: "Cross-site sign-in is refused: sign in from this service's own pages, or from a web app whose origin is listed in CORS_ALLOWED_ORIGINS."})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// originAllowed reports whether origin is in the CORS allow-list
// (Options.CORSOrigins), matched as go-chi/cors matches it (without regard
// to case, one '*' standing for any text). The CORS handler is given this
// function too, so that both always agree.
func (s *server) originAllowed(_ *http.Request, origin string) bool {
	origin = strings.ToLower(origin)
	for _, o := range s.opts.CORSOrigins {
		o = strings.ToLower(o)
		if prefix, suffix, wild := strings.Cut(o, "*"); wild {
			if len(origin) >= len(prefix)+len(suffix) && strings.HasPrefix(origin, prefix) && strings.HasSuffix(origin, suffix) {
				return true
			}
		} else if o == origin {
			return true
		}
	}
	return false
}

// sameHost reports whether the origin names host (the request's Host),
// default ports aside. The scheme is not compared: behind a proxy that
// ends TLS the service may not know it, and a page on the other scheme of
// the same host is not another site's.
func sameHost(origin, host string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return false // "null" (sandboxed or privacy-sensitive pages) included
	}
	defaultPort := map[string]string{"http": "80", "https": "443"}[u.Scheme]
	split := func(hp string) (string, string) {
		h, p, err := net.SplitHostPort(hp)
		if err != nil {
			return strings.Trim(hp, "[]"), defaultPort
		}
		return h, p
	}
	oh, op := split(u.Host)
	hh, hp := split(host)
	return strings.EqualFold(oh, hh) && op == hp
}

func (s *server) recheck(ctx context.Context, end context.CancelFunc, token string) {
	t := time.NewTicker(s.opts.StreamRecheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := s.auth.Authenticate(ctx, token); refused(err) {
			end() // a database outage is not a refusal: the stream stays
			return
		}
	}
}

// need returns middleware that lets a request of class a through only
// with the principal that AUTH_MODE requires for it (auth.Mode.Requires).
func (s *server) need(a auth.Class) func(http.Handler) http.Handler {
	needed, role := s.opts.AuthMode.Requires(a)
	return func(next http.Handler) http.Handler {
		if !needed {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, ok := principalOf(r.Context())
			if !ok {
				s.unauthenticated(w, r)
				return
			}
			if !p.Role.AtLeast(role) {
				writeProblem(w, r, Problem{Type: typeForbidden, Status: http.StatusForbidden,
					Detail: fmt.Sprintf("This action needs the %s role; you are signed in as %s with the %s role.",
						role, p.User.Username, p.Role)})
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

const (
	typeUnauthorized = "urn:rca:problem:unauthorized"
	typeForbidden    = "urn:rca:problem:forbidden"
	typeRateLimited  = "urn:rca:problem:rate-limited"
)

// unauthenticated answers 401 for a request without a usable credential,
// saying why, or 503 if the credential could not be checked because the
// database is down (the credential may well be fine).
func (s *server) unauthenticated(w http.ResponseWriter, r *http.Request) {
	s.unauthenticatedBecause(w, r, "")
}

// unauthenticatedBecause is unauthenticated with the domain's reason for
// needing a credential (empty: the route's).
func (s *server) unauthenticatedBecause(w http.ResponseWriter, r *http.Request, why string) {
	detail := "This route needs a signed-in user: send Authorization: Bearer <access token or API token>."
	if why != "" {
		detail = why
	}
	challenge := `Bearer realm="rca-engine"`
	if f, ok := r.Context().Value(authFailureKey).(authFailure); ok {
		var tokErr *auth.TokenError
		switch {
		case errors.As(f.err, &tokErr):
			detail = "The token was refused: " + tokErr.Reason + "."
		case errors.Is(f.err, auth.ErrSessionEnded):
			detail = "The token's session has ended (signed out or revoked); sign in again."
		case errors.Is(f.err, auth.ErrInactive):
			writeProblem(w, r, Problem{Type: typeForbidden, Status: http.StatusForbidden,
				Detail: "This account has been deactivated."})
			return
		default:
			s.fail(w, r, f.err)
			return
		}
		challenge += `, error="invalid_token", error_description="` + strings.ReplaceAll(detail, `"`, `'`) + `"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
	writeProblem(w, r, Problem{Type: typeUnauthorized, Status: http.StatusUnauthorized,
		Title: "Authentication required", Detail: detail})
}

// limited applies a rate limit of one route class: per principal when the
// caller is authenticated, per address otherwise (IPv6 per /64, which is
// what one client usually holds). Every answer carries the limit's state,
// in the IETF draft's RateLimit-* headers and the original's X-RateLimit-*.
func (s *server) limited(class string, lim func(ratelimit.Classes) ratelimit.Limit) func(http.Handler) http.Handler {
	return s.limitedBy(class, lim, clientKey)
}

// byAddress keys a limit by the client's address even when it presents a
// credential: the sign-in routes' limit is about the address.
func byAddress(r *http.Request) string { return "ip:" + addrKey(clientAddr(r.Context())) }

func (s *server) limitedBy(class string, lim func(ratelimit.Classes) ratelimit.Limit, key func(*http.Request) string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		l := lim(s.opts.RateLimits)
		if s.limiter == nil || l.IsZero() {
			return next
		}
		// The route classes decide in memory and share the budget
		// asynchronously (ratelimit.Limiter.Admit); the sign-in routes'
		// limit guards against guessing and stays exact, asked of Redis.
		decide := s.limiter.Admit
		if class == "auth" {
			decide = s.limiter.Allow
		}
		static := newRateStatic(l)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			res := decide(r.Context(), class+":"+key(r), l)
			if res.Allowed && res.Limit == static.limit {
				static.set(w.Header(), res, time.Now())
				next.ServeHTTP(w, r)
				return
			}
			if !s.allow(w, r, res, "Too many requests") {
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// allow writes the rate-limit headers of res and, if it denies, the 429.
func (s *server) allow(w http.ResponseWriter, r *http.Request, res ratelimit.Result, what string) bool {
	setRateHeaders(w.Header(), res, time.Now())
	if res.Allowed {
		return true
	}
	secs := int(math.Ceil(res.RetryAfter.Seconds()))
	if secs < 1 {
		secs = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeProblem(w, r, Problem{Type: typeRateLimited, Status: http.StatusTooManyRequests, Title: "Rate limit exceeded",
		Detail: fmt.Sprintf("%s: the limit is %s. Try again in %d s.", what, describeLimit(res.Limit), secs)})
	return false
}

func setRateHeaders(h http.Header, res ratelimit.Result, now time.Time) {
	limit := strconv.Itoa(res.Limit.Burst)
	remaining := strconv.Itoa(res.Remaining)
	reset := int(math.Ceil(res.ResetAfter.Seconds()))
	h.Set("RateLimit-Limit", limit)
	h.Set("RateLimit-Remaining", remaining)
	h.Set("RateLimit-Reset", strconv.Itoa(reset))
	h.Set("RateLimit-Policy", res.Limit.Policy())
	h.Set("X-RateLimit-Limit", limit)
	h.Set("X-RateLimit-Remaining", remaining)
	h.Set("X-RateLimit-Reset", strconv.FormatInt(now.Add(time.Duration(reset)*time.Second).Unix(), 10))
}

// rateStatic holds the rate-limit header values that do not change from
// one request to the next of a route class, formatted once.
type rateStatic struct {
	limit         ratelimit.Limit
	burst, policy []string
}

func newRateStatic(l ratelimit.Limit) rateStatic {
	if l.Burst == 0 {
		l.Burst = l.Rate // as the limiter normalises it
	}
	return rateStatic{limit: l, burst: fixed(strconv.Itoa(l.Burst)), policy: fixed(l.Policy())}
}

// set is setRateHeaders with the fixed values shared (see securityHeaders
// for why sharing them is safe).
func (st rateStatic) set(h http.Header, res ratelimit.Result, now time.Time) {
	remaining := fixed(strconv.Itoa(res.Remaining))
	reset := int(math.Ceil(res.ResetAfter.Seconds()))
	h["Ratelimit-Limit"] = st.burst
	h["Ratelimit-Remaining"] = remaining
	h["Ratelimit-Reset"] = fixed(strconv.Itoa(reset))
	h["Ratelimit-Policy"] = st.policy
	h["X-Ratelimit-Limit"] = st.burst
	h["X-Ratelimit-Remaining"] = remaining
	h["X-Ratelimit-Reset"] = fixed(strconv.FormatInt(now.Add(time.Duration(reset)*time.Second).Unix(), 10))
}

func describeLimit(l ratelimit.Limit) string {
	return fmt.Sprintf("%d requests per %s", l.Rate, l.Period)
}

// clientKey names who a limit applies to: the account, whichever of its
// sessions or API tokens is used (a user minting tokens does not mint
// budgets), or the address of an anonymous caller.
func clientKey(r *http.Request) string {
	if p, ok := principalOf(r.Context()); ok {
		return "user:" + p.User.ID.String()
	}
	return "ip:" + addrKey(clientAddr(r.Context()))
}

func addrKey(a netip.Addr) string {
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}
