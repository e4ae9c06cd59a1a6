package server

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tiercache/tiercache/users"
	"github.com/valyala/fasthttp"
)

// bodySeeds are the request bodies of TestSpec and some edge cases.
var bodySeeds = []string{
	``, ` `, `{}`, `null`, `[]`, `"x"`, `5`, `{"USERNAME":"x"}`,
	`{"username": "kiran", "email": "kiran@example.com"}`,
	`{"email":"new@example.com"}`,
	`{"username":"kiran","email":"k@example.com","role":"admin"}`,
	`{"username":"a","username":"b","email":"k@example.com"}`,
	`{"username":"a","user\u006eame":"a","email":"k@example.com"}`,
	`{"username":"a","email":"a@example.com"}{"username":"b","email":"b@example.com"}`,
	`{"username":5,"email":"k@example.com"}`,
	`{"username":"a/b","email":"k@example.com"}`,
	`{"username":"kiran","email":"Kiran <k@example.com>"}`,
	`{"username":"kiran","email":"\"k\"@example.com"}`,
	`{"a\"\\\n\u0001\u2028\ud800":1}`, "{\"\xff\":1}",
	`{"username":{"a":1,"a":2},"email":[1,{"b":null}]}`,
	`{"username":`, `{"username":"kiran",}`, "\ufeff{}",
	"\ufeff" + `{"username": "kiran", "email": "kiran@example.com"}`,
	"{\"username\":\"j\",\"email\":\"j\xff4@example.com\"}",
	`{"username":"j","email":"j\ud800@example.com"}`,
	`{"username":"j","email":"j\ud83d\ude00@example.com"}`,
	`{"username":"j","email":"\\ud800@example.com"}`,
}

var messages400 = map[string]bool{
	msgMalformed: true, msgMissingUsername: true, msgMissingEmail: true,
	msgInvalidUsername: true, msgInvalidEmail: true,
}

// FuzzParseBody checks that any body yields either a valid user or one of
// docs/api.md's 400 messages, and that the message renders as the JSON string
// it is.
func FuzzParseBody(f *testing.F) {
	for _, s := range bodySeeds {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, update bool) {
		name := ""
		if update {
			name = "kiran"
		}
		u, msg := parseUser(body, name)
		if msg == "" {
			if !json.Valid(bytes.TrimPrefix(body, utf8BOM)) || !utf8.Valid(body) {
				t.Fatalf("parseUser(%q) accepted invalid JSON", body)
			}
			if strings.ContainsRune(u.Email, utf8.RuneError) && !bytes.Contains(body, []byte("\ufffd")) && !bytes.Contains(body, []byte(`\ufffd`)) {
				t.Fatalf("parseUser(%q) = %+v; the email has a U+FFFD the body did not send", body, u)
			}
			if !validName(u.Name) || !validEmail(u.Email) || update && u.Name != name {
				t.Fatalf("parseUser(%q, %q) = %+v; want a valid user", body, name, u)
			}
			return
		}
		if u != (users.User{}) {
			t.Errorf("parseUser(%q) = %+v with message %q; want no user", body, u, msg)
		}
		unknown := strings.HasPrefix(msg, "Unknown field '") && strings.HasSuffix(msg, "'.")
		if !messages400[msg] && !unknown {
			t.Fatalf("parseUser(%q) = message %q; want one of docs/api.md's 400 messages", body, msg)
		}
		if !utf8.ValidString(msg) {
			t.Fatalf("parseUser(%q) = message %q; want valid UTF-8", body, msg)
		}
		var back string
		if err := json.Unmarshal(users.AppendJSONString(nil, msg), &back); err != nil || back != msg {
			t.Fatalf("message %q renders as %q (err %v); want it back", msg, back, err)
		}
	})
}

// FuzzHandler sends arbitrary bodies, content types and names through
// Handler: the answer is never a 5xx and always one JSON object.
func FuzzHandler(f *testing.F) {
	for i, s := range bodySeeds {
		f.Add(uint8(i), "kiran", "application/json", []byte(s))
	}
	f.Add(uint8(1), "a%2Fb", "application/json", []byte(`{"email":"k@example.com"}`))
	f.Add(uint8(2), "%2e%2e%2fmetrics", "application/json", []byte(`{}`))
	f.Add(uint8(2), "%6Biran", "application/json", []byte(`{}`))
	f.Add(uint8(1), "kira%6E", "application/json", []byte(`{"email":"k@example.com"}`))
	f.Add(uint8(0), "x", "text/plain; charset=utf-8", []byte(`{}`))
	cache, _ := newCache(f, envConfig{})
	s := New(cache, Config{Logger: slog.New(slog.DiscardHandler)})
	methods := []string{"POST", "PUT", "GET", "HEAD", "DELETE", "PATCH"}
	f.Fuzz(func(t *testing.T, m uint8, name, ctype string, body []byte) {
		method := methods[int(m)%len(methods)]
		path := "/user/" + name
		if method == "POST" {
			path = "/register"
		}
		var req fasthttp.Request
		req.Header.SetMethod(method)
		req.SetRequestURI(path)
		req.Header.SetContentType(ctype)
		req.SetBody(body)
		var ctx fasthttp.RequestCtx
		ctx.Init(&req, nil, nil)
		s.Handler(&ctx)
		if st := ctx.Response.StatusCode(); st >= 500 {
			t.Fatalf("%s %q %q %q: got status %d; want < 500", method, path, ctype, body, st)
		}
		out := ctx.Response.Body()
		if !json.Valid(out) || out[0] != '{' || out[len(out)-1] != '\n' {
			t.Fatalf("%s %q: got body %q; want one JSON object and a newline", method, path, out)
		}
		if got := string(ctx.Response.Header.ContentType()); got != "application/json" {
			t.Fatalf("got Content-Type %q; want application/json", got)
		}
	})
}
