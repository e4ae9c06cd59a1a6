package redact

import (
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		// Nothing to hide: unchanged.
		{"memory", "memory"},
		{"off", "off"},
		{"bogus", "bogus"},
		{"bolt:./data/tiercache.db", "bolt:./data/tiercache.db"},
		{"redis://127.0.0.1:6379", "redis://127.0.0.1:6379"},
		{"redis://127.0.0.1:6379/2?dial_timeout=1s&addr=10.0.0.2:6379", "redis://127.0.0.1:6379/2?dial_timeout=1s&addr=10.0.0.2:6379"},
		{"postgres://u@db.example/app?sslmode=verify-full&sslcert=/etc/c.pem&sslrootcert=/etc/ca.pem",
			"postgres://u@db.example/app?sslmode=verify-full&sslcert=/etc/c.pem&sslrootcert=/etc/ca.pem"},
		{"127.0.0.1:6379", "127.0.0.1:6379"},
		// Userinfo.
		{"redis://:s3cret@127.0.0.1:6379", "redis://:xxxxx@127.0.0.1:6379"},
		{"rediss://app:s3cret@cache.example:6380/1", "rediss://app:xxxxx@cache.example:6380/1"},
		{"postgres://u:s3cret@db.example/app", "postgres://u:xxxxx@db.example/app"},
		{"postgresql://u:s%40cret@db.example/app", "postgresql://u:xxxxx@db.example/app"},
		{"u:s3cret@db.example:5432", "u:xxxxx@db.example:5432"},
		// Query parameters, in any case, order and encoding kept.
		{"postgres://u@db.example/app?password=s3cret", "postgres://u@db.example/app?password=xxxxx"},
		{"postgres://u@h/app?sslmode=require&sslpassword=s3cret&sslkey=/home/u/.pg/key.pem&pool_max_conns=8",
			"postgres://u@h/app?sslmode=require&sslpassword=xxxxx&sslkey=xxxxx&pool_max_conns=8"},
		{"redis://h?PassWord=s3cret&api_key=s3cret&access_token=s3cret&x_secret=s3cret&auth=s3cret&pwd=s3cret",
			"redis://h?PassWord=xxxxx&api_key=xxxxx&access_token=xxxxx&x_secret=xxxxx&auth=xxxxx&pwd=xxxxx"},
		{"redis://h?pass%77ord=s3cret", "redis://h?pass%77ord=xxxxx"},
		{"redis://h?a=1;password=s3cret", "redis://h?a=1;password=xxxxx"},
		{"postgres://u:s3cret@h/app?password=s3cret", "postgres://u:xxxxx@h/app?password=xxxxx"},
		// Unparsable: never echoed whole.
		{"redis://u:s3cret@[::1", "redis://xxxxx@[::1"},
		{"redis://u:s3cret@127.0.0.1:notaport", "redis://xxxxx@127.0.0.1:notaport"},
		{"redis://u:s3%zzcret@h", "redis://xxxxx@h"},
		{"redis://u:s3c@ret@[::1", "redis://xxxxx@[::1"},
		{"redis://[::1?password=s3cret", "redis://[::1?xxxxx"},
		{"redis://[::1#s3cret", "redis://[::1?xxxxx"},
		{"1u:s3cret@h:1", "xxxxx@h:1"},
		{"redis://h:notaport?password=s3c@ret", "redis://xxxxx@ret"},
	} {
		got := URL(tc.in)
		if got != tc.want {
			t.Errorf("URL(%q) = %q; want %q", tc.in, got, tc.want)
		}
		if strings.Contains(got, "s3c") {
			t.Errorf("URL(%q) = %q keeps part of the secret", tc.in, got)
		}
	}
}
