package auth

import "testing"

// TestModeRequires is who may make each class of request in each mode;
// the HTTP edge applies exactly this table (and TestEveryRouteByRole in
// internal/api checks every route against it).
func TestModeRequires(t *testing.T) {
	type want struct {
		need bool
		role Role
	}
	tests := []struct {
		class Class
		off   want
		write want
		all   want
	}{
		{Read, want{false, RoleUser}, want{false, RoleUser}, want{true, RoleUser}},
		{Write, want{false, RoleUser}, want{true, RoleUser}, want{true, RoleUser}},
		{Administer, want{false, RoleAdmin}, want{true, RoleAdmin}, want{true, RoleAdmin}},
		{Own, want{true, RoleUser}, want{true, RoleUser}, want{true, RoleUser}},
		{ManageUsers, want{true, RoleAdmin}, want{true, RoleAdmin}, want{true, RoleAdmin}},
	}
	for _, tt := range tests {
		for mode, w := range map[Mode]want{ModeOff: tt.off, ModeWrites: tt.write, ModeAll: tt.all} {
			if need, role := mode.Requires(tt.class); need != w.need || (need && role != w.role) {
				t.Errorf("%s.Requires(%d) = %v, %s; want %v, %s", mode, tt.class, need, role, w.need, w.role)
			}
		}
	}
}
