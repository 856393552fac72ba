package ratelimit

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// maxRate bounds Rate so that Rate*n and the arithmetic in the GCRA stay far
// from overflow, and so that a typo ("100000000000/s") is caught at start-up.
const maxRate = 1_000_000_000

// minInterval is the shortest time between two requests a Limit may ask
// for. Redis computes the GCRA in float seconds since 2017 and stores them
// with 14 significant digits (about 10µs), so a finer limit would be
// silently wrong rather than enforced.
const minInterval = time.Microsecond

// Limit allows Rate events per Period, with bursts of up to Burst events
// (Burst 0 means Burst = Rate). The zero Limit means "no limit": it is what
// "off" parses to, and it always allows.
type Limit struct {
	Rate   int
	Period time.Duration
	Burst  int
}

// units are the period names ParseLimit accepts besides Go durations. "m"
// means a minute here, as in "100/m", where a Go duration would need "1m".
var units = map[string]time.Duration{
	"s": time.Second, "sec": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hr": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
}

// ParseLimit reads a limit as written in configuration: "RATE/PERIOD", where
// PERIOD is a unit name ("second", "s", "minute", "min", "m", "hour", "h",
// "day", "d"), a Go duration ("15m", "1h30m") or a number of seconds ("30").
// "off" and "0" give the zero Limit (no limit). Burst is set to Rate. Case
// and surrounding whitespace are ignored.
//
// "0/hour" is rejected rather than read as "block everything" or "off":
// whichever it meant, guessing wrong would be worse than asking.
func ParseLimit(s string) (Limit, error) {
	orig := s
	s = strings.ToLower(strings.TrimSpace(s))
	fail := func(err error) (Limit, error) {
		return Limit{}, fmt.Errorf("rate limit %q: %w", orig, err)
	}
	switch s {
	case "":
		return fail(errors.New(`empty; write e.g. "100/hour", or "off" for no limit`))
	case "off", "0":
		return Limit{}, nil
	}
	rateStr, periodStr, ok := strings.Cut(s, "/")
	if !ok {
		return fail(errors.New(`want RATE/PERIOD, e.g. "100/hour" or "30/15m", or "off"`))
	}
	rateStr, periodStr = strings.TrimSpace(rateStr), strings.TrimSpace(periodStr)
	rate, err := strconv.ParseInt(rateStr, 10, 64)
	switch {
	case strings.HasPrefix(rateStr, "-"):
		return fail(errors.New("rate must not be negative"))
	case errors.Is(err, strconv.ErrRange):
		return fail(fmt.Errorf("rate %s is above the maximum of %d", rateStr, maxRate))
	case err != nil:
		return fail(fmt.Errorf("rate %q is not a whole number", rateStr))
	case rate == 0:
		return fail(errors.New(`rate must be positive; write "off" for no limit`))
	case rate > maxRate:
		return fail(fmt.Errorf("rate %d is above the maximum of %d", rate, maxRate))
	}
	period, err := parsePeriod(periodStr)
	if err != nil {
		return fail(err)
	}
	if period/time.Duration(rate) < minInterval {
		return fail(fmt.Errorf("more than one request per %s cannot be enforced", minInterval))
	}
	return Limit{Rate: int(rate), Period: period, Burst: int(rate)}, nil
}

func parsePeriod(s string) (time.Duration, error) {
	if d, ok := units[s]; ok {
		return d, nil
	}
	if strings.HasPrefix(s, "-") {
		return 0, errors.New("period must not be negative")
	}
	d, err := time.ParseDuration(s)
	if err != nil && s != "" && strings.Trim(s, "0123456789.") == "" {
		d, err = time.ParseDuration(s + "s") // bare seconds
	}
	switch {
	case err != nil:
		return 0, fmt.Errorf(`period %q is neither a unit (second, minute, hour, day), a duration ("15m") nor seconds ("30")`, s)
	case d <= 0:
		return 0, errors.New("period must be longer than zero")
	}
	return d, nil
}

// String writes l so that ParseLimit reads it back: "100/hour", "30/15m0s",
// or "off". A Burst other than Rate (which ParseLimit never produces) is
// added as " burst N".
func (l Limit) String() string {
	if l.IsZero() {
		return "off"
	}
	var p string
	switch l.Period {
	case time.Second:
		p = "second"
	case time.Minute:
		p = "minute"
	case time.Hour:
		p = "hour"
	case 24 * time.Hour:
		p = "day"
	default:
		p = l.Period.String()
	}
	s := strconv.Itoa(l.Rate) + "/" + p
	if l.Burst != 0 && l.Burst != l.Rate {
		s += " burst " + strconv.Itoa(l.Burst)
	}
	return s
}

// IsZero reports whether l is the zero Limit, which means "no limit".
func (l Limit) IsZero() bool { return l == Limit{} }

// Policy returns the value of a RateLimit-Policy header for l, e.g.
// "100;w=3600": the quota and its window in whole seconds, rounded up and
// at least 1 because the header cannot say less. It is "" for the zero
// Limit, for which callers send no rate-limit headers.
func (l Limit) Policy() string {
	if l.IsZero() || l.Period <= 0 {
		return ""
	}
	w := int64((l.Period + time.Second - 1) / time.Second)
	return strconv.Itoa(l.Rate) + ";w=" + strconv.FormatInt(w, 10)
}

// normalize fills in the default Burst and says whether l can be enforced.
// A Limit ParseLimit cannot produce (negative fields, a rate without a
// period) is treated as no limit: refusing every request because of a
// configuration bug would take the service down, and config validation
// through ParseLimit is where such a bug belongs.
func (l Limit) normalize() (Limit, bool) {
	if l.Burst == 0 {
		l.Burst = l.Rate
	}
	if l.Rate <= 0 || l.Rate > maxRate || l.Period <= 0 || l.Burst <= 0 || l.Burst > maxRate {
		return l, false
	}
	return l, true
}

// Classes are the limits per class of route and per kind of sign-in
// failure; a zero limit is off. Configuration reads them and the HTTP edge
// applies them: one definition for both.
type Classes struct {
	Read, Write Limit
	// Auth: sign-in, registration and refresh requests, per address.
	Auth Limit
	// LoginAccount and LoginAddress: sign-in attempts per account and per
	// address.
	LoginAccount, LoginAddress Limit
}
