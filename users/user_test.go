package users

import "testing"

func TestAppendJSONString(t *testing.T) {
	for in, want := range map[string]string{
		"plain":            `"plain"`,
		`q"b\`:             `"q\"b\\"`,
		"<a>&":             `"<a>&"`,
		"tab\tnl\n\x01":    `"tab\tnl\n\u0001"`,
		"bad\xffutf8":      `"bad\ufffdutf8"`,
		"ls\u2028ps\u2029": `"ls\u2028ps\u2029"`,
		"ünï":              `"ünï"`,
	} {
		if got := string(AppendJSONString(nil, in)); got != want {
			t.Errorf("AppendJSONString(%q) = %s; want %s", in, got, want)
		}
	}
}

func TestValid(t *testing.T) {
	kiran := User{Name: "kiran", Email: "kiran@example.com"}.AppendJSON(nil)
	for _, tc := range []struct {
		name, v string
		want    bool
	}{
		{"kiran", string(kiran), true},
		{"bob", string(kiran), false}, // another user's data
		{"kiran", "null", false},
		{"kiran", "", false},
		{"kiran", `{"email":"k\u0040example.com","username":"kiran"}`, false}, // an escape AppendJSON does not write
		{"kiran", "{\"email\":\"k\xff@example.com\",\"username\":\"kiran\"}", false},
		{"kiran", `{"email":"` + string(make([]byte, MaxBodyBytes)) + `","username":"kiran"}`, false},
	} {
		if got := Valid(tc.name, []byte(tc.v)); got != tc.want {
			t.Errorf("Valid(%q, %.60q) = %v; want %v", tc.name, tc.v, got, tc.want)
		}
	}
}
