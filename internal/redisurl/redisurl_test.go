package redisurl

import "testing"

func TestScrub(t *testing.T) {
	for _, tc := range []struct {
		name, url, msg, want string
	}{
		{"password", "redis://:pw-123@h:1/0", `dial redis://:pw-123@h:1/0: "pw-123"`, `dial xxxxx: "xxxxx"`},
		{"user and password", "redis://u:pw-123@h:1/0", "auth u:pw-123 failed", "auth xxxxx failed"},
		{"user beside a password is kept", "redis://default:pw-123@h:1/0", `target "default": auth failed`, `target "default": auth failed`},
		{"lone userinfo is the password", "redis://s3cret@h:1/0", "auth s3cret failed", "auth xxxxx failed"},
		{"escaped password", "redis://:p%40ss%2Fw@h:1/0", `got "p@ss/w" and "p%40ss%2Fw"`, `got "xxxxx" and "xxxxx"`},
		{"unparsable URL", "redis://:pw-123%zz@h:x/0", `parse "redis://:pw-123%zz@h:x/0": invalid URL escape "%zz"`, `parse "xxxxx": invalid URL escape "%zz"`},
		{"unescaped slash", "redis://:pw/123@h:1/0", "pw/123", "xxxxx"},
		{"no password", "redis://h:1/0", "dial tcp h:1: refused", "dial tcp h:1: refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := NewSecrets(tc.url).Scrub(tc.msg); got != tc.want {
				t.Errorf("Scrub(%q) = %q, want %q", tc.msg, got, tc.want)
			}
		})
	}
}

func TestHasPassword(t *testing.T) {
	for raw, want := range map[string]bool{
		"redis://localhost:6379/0":          false,
		"redis://:secret@localhost:6379":    true,
		"redis://user:secret@localhost":     true,
		"redis://secret@localhost":          true,
		"rediss://u:p%zz@host":              true, // does not parse; still refused
		"redis://user:p/w@host:6379/0":      true,
		"redis://localhost:6379/0?db=1":     false,
		"redis://localhost:6379/0#fragment": false,
	} {
		if got := HasPassword(raw); got != want {
			t.Errorf("HasPassword(%q) = %v, want %v", raw, got, want)
		}
	}
}
