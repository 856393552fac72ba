package ratelimit

import (
	"strings"
	"testing"
	"time"
)

func TestParseLimit(t *testing.T) {
	t.Parallel()
	lim := func(rate int, period time.Duration) Limit { return Limit{Rate: rate, Period: period, Burst: rate} }
	valid := []struct {
		in   string
		want Limit
	}{
		{"100/hour", lim(100, time.Hour)},
		{"10/minute", lim(10, time.Minute)},
		{"5/second", lim(5, time.Second)},
		{"100/h", lim(100, time.Hour)},
		{"100/min", lim(100, time.Minute)},
		{"100/m", lim(100, time.Minute)},
		{"100/s", lim(100, time.Second)},
		{"7/day", lim(7, 24*time.Hour)},
		{"30/15m", lim(30, 15*time.Minute)},
		{"30/1h30m", lim(30, 90*time.Minute)},
		{"5/500ms", lim(5, 500*time.Millisecond)},
		{"30/30", lim(30, 30*time.Second)},
		{"30/1.5", lim(30, 1500*time.Millisecond)},
		{"  100 / Hour \n", lim(100, time.Hour)},
		{"100/HOURS", lim(100, time.Hour)},
		{"1000000000/1000s", lim(1_000_000_000, 1000*time.Second)},
		{"off", Limit{}},
		{" OFF ", Limit{}},
		{"0", Limit{}},
	}
	for _, tt := range valid {
		got, err := ParseLimit(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseLimit(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}

	invalid := []struct {
		in, wantErr string
	}{
		{"", "empty"},
		{"   ", "empty"},
		{"100", "RATE/PERIOD"},
		{"hundred/hour", "not a whole number"},
		{"1.5/hour", "not a whole number"},
		{"-5/hour", "negative"},
		{"5/-1m", "negative"},
		{"5/-3", "negative"},
		{"0/hour", `"off"`},
		{"5/0", "longer than zero"},
		{"5/0s", "longer than zero"},
		{"5/", "neither a unit"},
		{"5/fortnight", "neither a unit"},
		{"5/hour/extra", "neither a unit"},
		{"5/1e3", "neither a unit"},
		{"1000000001/hour", "maximum"},
		{"99999999999999999999999/hour", "maximum"},
		{"1000000/100ms", "cannot be enforced"},
		{"unlimited", "RATE/PERIOD"},
	}
	for _, tt := range invalid {
		got, err := ParseLimit(tt.in)
		if err == nil {
			t.Errorf("ParseLimit(%q) = %+v, want an error", tt.in, got)
			continue
		}
		if !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ParseLimit(%q) error = %q, want it to mention %q", tt.in, err, tt.wantErr)
		}
	}
}

func TestLimitStringAndPolicy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		lim         Limit
		str, policy string
		roundTrips  bool
	}{
		{Limit{}, "off", "", true},
		{Limit{Rate: 100, Period: time.Hour, Burst: 100}, "100/hour", "100;w=3600", true},
		{Limit{Rate: 10, Period: time.Minute, Burst: 10}, "10/minute", "10;w=60", true},
		{Limit{Rate: 5, Period: time.Second, Burst: 5}, "5/second", "5;w=1", true},
		{Limit{Rate: 30, Period: 15 * time.Minute, Burst: 30}, "30/15m0s", "30;w=900", true},
		{Limit{Rate: 5, Period: 500 * time.Millisecond, Burst: 5}, "5/500ms", "5;w=1", true},
		{Limit{Rate: 5, Period: 1500 * time.Millisecond, Burst: 5}, "5/1.5s", "5;w=2", true},
		{Limit{Rate: 5, Period: time.Minute, Burst: 2}, "5/minute burst 2", "5;w=60", false},
	}
	for _, tt := range tests {
		if got := tt.lim.String(); got != tt.str {
			t.Errorf("%+v.String() = %q, want %q", tt.lim, got, tt.str)
		}
		if got := tt.lim.Policy(); got != tt.policy {
			t.Errorf("%+v.Policy() = %q, want %q", tt.lim, got, tt.policy)
		}
		if back, err := ParseLimit(tt.lim.String()); tt.roundTrips && (err != nil || back != tt.lim) {
			t.Errorf("ParseLimit(%q) = %+v, %v; want %+v", tt.lim.String(), back, err, tt.lim)
		}
	}
}

func FuzzParseLimit(f *testing.F) {
	for _, s := range []string{"100/hour", "10/minute", "5/s", "30/15m", "30/30", "off", "0", "", "-1/h",
		"5/0", "1000000000/1000s", "7/1.5", "1/1ns", " 3 / MIN ", "9/2562047h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lim, err := ParseLimit(s)
		if err != nil {
			if lim != (Limit{}) {
				t.Fatalf("ParseLimit(%q) returned %+v with error %v", s, lim, err)
			}
			return
		}
		if lim.IsZero() {
			if lim.String() != "off" || lim.Policy() != "" {
				t.Fatalf("zero limit from %q: String %q, Policy %q", s, lim.String(), lim.Policy())
			}
			return
		}
		if lim.Rate <= 0 || lim.Rate > maxRate || lim.Period <= 0 || lim.Burst != lim.Rate {
			t.Fatalf("ParseLimit(%q) = %+v: not a sensible limit", s, lim)
		}
		if _, ok := lim.normalize(); !ok {
			t.Fatalf("ParseLimit(%q) = %+v, which the limiter would not enforce", s, lim)
		}
		back, err := ParseLimit(lim.String())
		if err != nil || back != lim {
			t.Fatalf("ParseLimit(%q) = %+v, whose String %q parses to %+v, %v", s, lim, lim.String(), back, err)
		}
		if !strings.HasPrefix(lim.Policy(), lim.String()[:strings.Index(lim.String(), "/")]+";w=") {
			t.Fatalf("Policy of %+v = %q", lim, lim.Policy())
		}
	})
}
