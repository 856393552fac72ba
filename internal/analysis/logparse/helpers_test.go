package logparse

import "strconv"

func itoa(n int) string { return strconv.Itoa(n) }
func atoi(s string) int { n, _ := strconv.Atoi(s); return n }
func quote(s string) string {
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return strconv.Quote(s)
}
