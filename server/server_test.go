package server

import (
	"bufio"
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tiercache/tiercache/users"
	"github.com/tiercache/tiercache/users/memory"
	"github.com/valyala/fasthttp"
)

// step is one request and what its answer must be, or an action (do) on the
// env between requests.
type step struct {
	do func(t *testing.T, e *env)

	method, path string
	ctype        string // request Content-Type; none when empty
	body         string
	raw          string // sent as is on a new connection, instead of method/path

	status int
	want   string            // the exact response body
	hdr    map[string]string // expected values of checkedHeaders; absent when not listed
}

// checkedHeaders are asserted on every answer: present with the row's value,
// or absent.
var checkedHeaders = []string{"Location", "Allow", "Retry-After", "Cache-Status", "Content-Length"}

const (
	kiranReq  = `{"username": "kiran", "email": "kiran@example.com"}` // the seed's curl body
	kiranData = `{"email":"kiran@example.com","username":"kiran"}`
	newData   = `{"email":"new@example.com","username":"kiran"}`

	registered    = `{"data":` + kiranData + `,"message":"User 'kiran' registered successfully."}` + "\n"
	fromStore     = `{"data":` + kiranData + `,"message":"User 'kiran' retrieved from store."}` + "\n"
	fromCache     = `{"data":` + kiranData + `,"message":"User 'kiran' found in cache."}` + "\n"
	userNotFound  = `{"error":"User not found."}` + "\n"
	notFound      = `{"error":"Not found."}` + "\n"
	notAllowed    = `{"error":"Method not allowed."}` + "\n"
	unavailableJS = `{"error":"Service unavailable, try again."}` + "\n"
	badType       = `{"error":"Content-Type must be application/json."}` + "\n"
	tooLarge      = `{"error":"Request body too large."}` + "\n"

	csL1     = "tiercache; hit; detail=l1"
	csL2     = "tiercache; hit; detail=l2"
	csStore  = "tiercache; fwd=miss; stored"
	csFailed = "tiercache; fwd=miss"
	csBypas  = "tiercache; fwd=bypass"
	csMeth   = "tiercache; fwd=method"

	ctJSONs   = "application/json"
	allowUsr  = "GET, HEAD, PUT, DELETE, OPTIONS"
	allowReg  = "POST, OPTIONS"
	allowProb = "GET, HEAD, OPTIONS"
)

func errBody(msg string) string { return `{"error":"` + msg + `"}` + "\n" }

func length(body string) string { return strconv.Itoa(len(body)) }

// Steps used by many rows.
var (
	registerKiran = step{method: "POST", path: "/register", ctype: ctJSONs, body: kiranReq,
		status: 201, want: registered, hdr: map[string]string{"Location": "/user/kiran", "Content-Length": length(registered)}}
	getFromStore = step{method: "GET", path: "/user/kiran",
		status: 200, want: fromStore, hdr: map[string]string{"Cache-Status": csStore, "Content-Length": length(fromStore)}}
	getFromL1 = step{method: "GET", path: "/user/kiran",
		status: 200, want: fromCache, hdr: map[string]string{"Cache-Status": csL1, "Content-Length": length(fromCache)}}
	closeStore = step{do: func(t *testing.T, e *env) {
		if err := e.mem.Close(); err != nil {
			t.Fatal(err)
		}
	}}
)

// register is a POST /register of body with a JSON Content-Type.
func register(body string) step {
	return step{method: "POST", path: "/register", ctype: ctJSONs, body: body}
}

// is sets the expected answer of s with no checked headers but Content-Length.
func (s step) is(status int, want string) step {
	s.status, s.want = status, want
	s.hdr = map[string]string{"Content-Length": length(want)}
	return s
}

// with adds expected headers.
func (s step) with(kv ...string) step {
	h := map[string]string{}
	for k, v := range s.hdr {
		h[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		h[kv[i]] = kv[i+1]
	}
	s.hdr = h
	return s
}

func req(method, path string) step { return step{method: method, path: path} }

// optionsStep is an OPTIONS request for path, answered 204 with allow and
// no body.
func optionsStep(path, allow string) step {
	return step{method: "OPTIONS", path: path, status: 204, hdr: map[string]string{"Allow": allow}}
}

// badRegister is the 400 answer to a register with body.
func badRegister(body, msg string) []step {
	return []step{register(body).is(400, errBody(msg))}
}

type row struct {
	name  string
	cfg   envConfig
	steps []step
}

// TestSpec runs one row per case of docs/api.md (/metrics: TestMetrics) through the
// real fasthttp server on an in-memory listener.
func TestSpec(t *testing.T) {
	t.Parallel()
	name64, name65 := strings.Repeat("a", 64), strings.Repeat("a", 65)
	email254 := strings.Repeat("e", 254-len("@example.com")) + "@example.com"
	email255 := "e" + email254
	exactLimit := kiranReq + strings.Repeat(" ", maxBodySize-len(kiranReq))

	failingCreate := envConfig{store: func(m *memory.Store) users.Store {
		return &fakeStore{Store: m, CreateFunc: func(context.Context, users.User) (uint64, error) {
			return 0, errors.New("disk on fire")
		}}
	}}
	panickingCreate := envConfig{store: func(m *memory.Store) users.Store {
		return &fakeStore{Store: m, CreateFunc: func(context.Context, users.User) (uint64, error) {
			panic("boom in store")
		}}
	}}
	withL2 := func() envConfig { return envConfig{shared: newFakeShared()} }
	degradedL2 := func() envConfig {
		f := newFakeShared()
		f.StatusFunc = func() string { return "degraded" }
		return envConfig{shared: f}
	}

	rows := []row{
		// POST /register
		{name: "seed curl: register, get from store, get from cache",
			steps: []step{registerKiran, getFromStore, getFromL1}},
		{name: "register 64-char name", steps: []step{
			register(`{"username":"`+name64+`","email":"k@example.com"}`).
				is(201, `{"data":{"email":"k@example.com","username":"`+name64+`"},"message":"User '`+name64+`' registered successfully."}`+"\n").
				with("Location", "/user/"+name64)}},
		{name: "register 254-byte email", steps: []step{
			register(`{"username":"k","email":"`+email254+`"}`).
				is(201, `{"data":{"email":"`+email254+`","username":"k"},"message":"User 'k' registered successfully."}`+"\n").
				with("Location", "/user/k")}},
		{name: "register body of exactly 64 KiB", steps: []step{
			{method: "POST", path: "/register", ctype: ctJSONs, body: exactLimit,
				status: 201, want: registered, hdr: registerKiran.hdr}}},
		{name: "409 leaves the user unchanged", steps: []step{
			registerKiran,
			register(`{"username":"kiran","email":"other@example.com"}`).is(409, errBody("User 'kiran' already exists.")),
			getFromStore}},
		{name: "400 {}", steps: badRegister(`{}`, msgMissingUsername)},
		{name: "400 null", steps: badRegister(`null`, msgMissingUsername)},
		{name: "400 []", steps: badRegister(`[]`, msgMissingUsername)},
		{name: "400 string body", steps: badRegister(`"x"`, msgMissingUsername)},
		{name: "400 number body", steps: badRegister(` 5 `, msgMissingUsername)},
		{name: "400 no username", steps: badRegister(`{"email":"k@example.com"}`, msgMissingUsername)},
		{name: "400 no email", steps: badRegister(`{"username":"kiran"}`, msgMissingEmail)},
		{name: "400 USERNAME is an unknown key", steps: badRegister(`{"USERNAME":"x"}`, "Unknown field 'USERNAME'.")},
		{name: "400 username 65 chars", steps: badRegister(`{"username":"`+name65+`","email":"k@example.com"}`, msgInvalidUsername)},
		{name: "400 username a/b", steps: badRegister(`{"username":"a/b","email":"k@example.com"}`, msgInvalidUsername)},
		{name: "400 username .. (no path reaches it)", steps: badRegister(`{"username":"..","email":"k@example.com"}`, msgInvalidUsername)},
		{name: "400 username . (no path reaches it)", steps: badRegister(`{"username":".","email":"k@example.com"}`, msgInvalidUsername)},
		{name: "400 username empty", steps: badRegister(`{"username":"","email":"k@example.com"}`, msgInvalidUsername)},
		{name: "400 username numeric", steps: badRegister(`{"username":5,"email":"k@example.com"}`, msgInvalidUsername)},
		{name: "400 username null", steps: badRegister(`{"username":null,"email":"k@example.com"}`, msgInvalidUsername)},
		{name: "400 invalid username before invalid email", steps: badRegister(`{"username":"a b","email":"x"}`, msgInvalidUsername)},
		{name: "400 email without @", steps: badRegister(`{"username":"kiran","email":"kiran.example.com"}`, msgInvalidEmail)},
		{name: "400 email with display name", steps: badRegister(`{"username":"kiran","email":"Kiran <k@example.com>"}`, msgInvalidEmail)},
		{name: "400 email 255 bytes", steps: badRegister(`{"username":"kiran","email":"`+email255+`"}`, msgInvalidEmail)},
		{name: "400 email not a string", steps: badRegister(`{"username":"kiran","email":["k@example.com"]}`, msgInvalidEmail)},
		{name: "400 unknown field role", steps: badRegister(`{"username":"kiran","email":"k@example.com","role":"admin"}`, "Unknown field 'role'.")},
		{name: "400 unknown field before missing username", steps: badRegister(`{"role":"admin"}`, "Unknown field 'role'.")},
		{name: "400 first unknown field in document order", steps: badRegister(`{"b":1,"username":"kiran","a":2,"email":"k@example.com"}`, "Unknown field 'b'.")},
		{name: "400 unknown field with < is not HTML-escaped", steps: badRegister(`{"<script>":1}`, "Unknown field '<script>'.")},
		{name: "400 unknown field escaped as JSON", steps: badRegister(`{"a\"\\\n\u0001\u2028\ud83d\ude00":1}`, `Unknown field 'a\"\\\n\u0001\u2028`+"\U0001F600'.")},
		// Text that is not UTF-8 would be stored with U+FFFD in place of what
		// was sent: malformed, wherever it is.
		{name: "400 unknown field with invalid UTF-8", steps: badRegister("{\"\xff\":1}", msgMalformed)},
		{name: "400 invalid UTF-8 in email", steps: badRegister("{\"username\":\"j\",\"email\":\"j\xff4@example.com\"}", msgMalformed)},
		{name: "400 lone high surrogate in email", steps: badRegister(`{"username":"j","email":"j\ud8004@example.com"}`, msgMalformed)},
		{name: "400 lone low surrogate in email", steps: badRegister(`{"username":"j","email":"j\udc004@example.com"}`, msgMalformed)},
		{name: "400 high surrogate before a non-surrogate", steps: badRegister(`{"username":"j","email":"j\ud800\u0041@example.com"}`, msgMalformed)},
		{name: "400 high surrogate at the end of a string", steps: badRegister(`{"username":"j","email":"x","\ud800":1}`, msgMalformed)},
		{name: "400 lone surrogate after an escaped backslash", steps: badRegister(`{"username":"j","email":"\\\ud800"}`, msgMalformed)},
		{name: "escaped backslash before u is no escape", steps: badRegister(`{"username":"j","email":"\\ud800"}`, msgInvalidEmail)},
		{name: "byte order mark is ignored", steps: []step{
			{method: "POST", path: "/register", ctype: ctJSONs, body: "\ufeff" + kiranReq,
				status: 201, want: registered, hdr: registerKiran.hdr}}},
		{name: "400 two byte order marks", steps: badRegister("\ufeff\ufeff"+kiranReq, msgMalformed)},
		{name: "400 byte order mark after whitespace", steps: badRegister(" \ufeff"+kiranReq, msgMalformed)},
		{name: "400 malformed", steps: badRegister(`{"username":`, msgMalformed)},
		{name: "400 empty body", steps: badRegister(``, msgMalformed)},
		{name: "400 trailing data", steps: badRegister(`{"username":"a","email":"a@example.com"}{"username":"b","email":"b@example.com"}`, msgMalformed)},
		{name: "400 duplicate key", steps: badRegister(`{"username":"a","username":"b","email":"k@example.com"}`, msgMalformed)},
		{name: "400 duplicate key by escape", steps: badRegister(`{"username":"a","user\u006eame":"a","email":"k@example.com"}`, msgMalformed)},
		{name: "400 duplicate key beats unknown key", steps: badRegister(`{"role":1,"role":2}`, msgMalformed)},
		{name: "trailing whitespace is fine", steps: []step{
			{method: "POST", path: "/register", ctype: ctJSONs, body: kiranReq + "\r\n\t ",
				status: 201, want: registered, hdr: registerKiran.hdr}}},
		{name: "415 no Content-Type", steps: []step{
			step{method: "POST", path: "/register", body: kiranReq}.is(415, badType)}},
		{name: "415 text/plain", steps: []step{
			step{method: "POST", path: "/register", ctype: "text/plain", body: kiranReq}.is(415, badType)}},
		{name: "415 before malformed", steps: []step{
			step{method: "POST", path: "/register", ctype: "text/plain", body: "{"}.is(415, badType)}},
		{name: "415 broken multipart form", steps: []step{
			step{method: "POST", path: "/register", ctype: "multipart/form-data; boundary=x", body: "--x\r\nbroken"}.is(415, badType)}},
		{name: "415 application/jsonx", steps: []step{
			step{method: "POST", path: "/register", ctype: "application/jsonx", body: kiranReq}.is(415, badType)}},
		{name: "415 application/+json", steps: []step{
			step{method: "POST", path: "/register", ctype: "application/+json", body: kiranReq}.is(415, badType)}},
		{name: "accepted application/vnd.api+json; charset=utf-8", steps: []step{
			{method: "POST", path: "/register", ctype: "application/vnd.api+json; charset=utf-8", body: kiranReq,
				status: 201, want: registered, hdr: registerKiran.hdr}}},
		{name: "accepted APPLICATION/JSON", steps: []step{
			{method: "POST", path: "/register", ctype: "APPLICATION/JSON", body: kiranReq,
				status: 201, want: registered, hdr: registerKiran.hdr}}},
		{name: "413 body of 64 KiB + 1", steps: []step{
			step{raw: rawRequest("POST", "/register", exactLimit+" ")}.is(413, tooLarge)}},
		{name: "503 store fails on register, nothing written", cfg: failingCreate, steps: []step{
			register(kiranReq).is(503, unavailableJS).with("Retry-After", "1"),
			req("GET", "/user/kiran").is(404, userNotFound).with("Cache-Status", csStore)}},
		{name: "503 store closed on register", steps: []step{
			closeStore,
			register(kiranReq).is(503, unavailableJS).with("Retry-After", "1")}},
		{name: "500 on a panic, logged with its stack", cfg: panickingCreate, steps: []step{
			register(kiranReq).is(500, errBody("Internal server error.")),
			{do: func(t *testing.T, e *env) {
				logs := e.logs.String()
				if n := strings.Count(logs, "panic serving request"); n != 1 {
					t.Errorf("got %d panic log lines; want 1: %s", n, logs)
				}
				for _, want := range []string{"boom in store", "goroutine ", "server.(*Server).Handler"} {
					if !strings.Contains(logs, want) {
						t.Errorf("got log %q; want it to contain %q", logs, want)
					}
				}
			}},
			getFromStore.is(404, userNotFound).with("Cache-Status", csStore)}},

		// GET and HEAD /user/{username}
		{name: "404 unknown user, then its negative entry from L1", steps: []step{
			req("GET", "/user/nobody").is(404, userNotFound).with("Cache-Status", csStore),
			req("GET", "/user/nobody").is(404, userNotFound).with("Cache-Status", csL1)}},
		{name: "registration clears a cached not found", steps: []step{
			req("GET", "/user/kiran").is(404, userNotFound).with("Cache-Status", csStore),
			req("GET", "/user/kiran").is(404, userNotFound).with("Cache-Status", csL1),
			registerKiran, getFromStore, getFromL1}},
		{name: "404 /user/ with empty name", steps: []step{req("GET", "/user/").is(404, userNotFound).with("Cache-Status", csBypas)}},
		{name: "404 /user/a/b", steps: []step{req("GET", "/user/a/b").is(404, userNotFound).with("Cache-Status", csBypas)}},
		{name: "404 /user/a%2Fb", steps: []step{req("GET", "/user/a%2Fb").is(404, userNotFound).with("Cache-Status", csBypas)}},
		{name: "404 /user/kiran/", steps: []step{req("GET", "/user/kiran/").is(404, userNotFound).with("Cache-Status", csBypas)}},
		{name: "404 /user/ 65 chars", steps: []step{req("GET", "/user/"+name65).is(404, userNotFound).with("Cache-Status", csBypas)}},
		{name: "404 /user/ with space", steps: []step{req("GET", "/user/a%20b").is(404, userNotFound).with("Cache-Status", csBypas)}},
		{name: "percent-decoded name", steps: []step{registerKiran, req("GET", "/user/%6Biran").is(200, fromStore).with("Cache-Status", csStore)}},
		{name: "percent-decoded name, lower-case hex", steps: []step{registerKiran, req("GET", "/user/kira%6e").is(200, fromStore).with("Cache-Status", csStore)}},
		// Routing is on the path as sent: no escape or dot-segment leaves
		// /user/.
		{name: "404 /user/%2e%2e%2fmetrics", steps: []step{req("GET", "/user/%2e%2e%2fmetrics").is(404, userNotFound).with("Cache-Status", csBypas)}},
		{name: "404 /user/..%2Fhealthz", steps: []step{req("GET", "/user/..%2Fhealthz").is(404, userNotFound).with("Cache-Status", csBypas)}},
		{name: "404 /user/../metrics", steps: []step{req("GET", "/user/../metrics").is(404, userNotFound).with("Cache-Status", csBypas)}},
		{name: "404 /user/%2E", steps: []step{req("GET", "/user/%2E").is(404, userNotFound).with("Cache-Status", csBypas)}},
		{name: "404 /user/%", steps: []step{req("GET", "/user/kiran%").is(404, userNotFound).with("Cache-Status", csBypas)}},
		{name: "404 /user/%zz", steps: []step{req("GET", "/user/%zziran").is(404, userNotFound).with("Cache-Status", csBypas)}},
		{name: "404 /user/%25", steps: []step{req("GET", "/user/%25").is(404, userNotFound).with("Cache-Status", csBypas)}},
		{name: "404 /user/ 65 chars after decoding", steps: []step{req("GET", "/user/%61"+name64).is(404, userNotFound).with("Cache-Status", csBypas)}},
		{name: "64 chars after decoding", steps: []step{
			register(`{"username":"`+name64+`","email":"k@example.com"}`).is(201, `{"data":{"email":"k@example.com","username":"`+name64+`"},"message":"User '`+name64+`' registered successfully."}`+"\n").with("Location", "/user/"+name64),
			req("GET", "/user/%61"+name64[1:]).is(200, `{"data":{"email":"k@example.com","username":"`+name64+`"},"message":"User '`+name64+`' retrieved from store."}`+"\n").with("Cache-Status", csStore)}},
		{name: "404 /metrics escaped", steps: []step{req("GET", "/%6detrics").is(404, notFound)}},
		{name: "404 /user%2Fkiran", steps: []step{registerKiran, req("GET", "/user%2Fkiran").is(404, notFound)}},
		{name: "query string ignored", steps: []step{registerKiran, req("GET", "/user/kiran?x=1").is(200, fromStore).with("Cache-Status", csStore)}},
		{name: "HEAD like GET without body", steps: []step{
			registerKiran,
			req("HEAD", "/user/kiran").is(200, "").with("Cache-Status", csStore, "Content-Length", length(fromStore)),
			req("HEAD", "/user/kiran").is(200, "").with("Cache-Status", csL1, "Content-Length", length(fromCache)),
			req("HEAD", "/user/nobody").is(404, "").with("Cache-Status", csStore, "Content-Length", length(userNotFound)),
			req("HEAD", "/user/a%2Fb").is(404, "").with("Cache-Status", csBypas, "Content-Length", length(userNotFound))}},
		{name: "L2 hit, then L1 hit", cfg: withL2(), steps: []step{
			registerKiran,
			req("GET", "/user/kiran").is(200, fromCache).with("Cache-Status", csL2),
			getFromL1}},
		// A "not found" stays out of L2 (a flood of unknown names must not
		// fill Redis) and lives in L1, which L2's tracking keeps coherent.
		{name: "negative entry with L2: in L1, not in L2", cfg: withL2(), steps: []step{
			req("GET", "/user/nobody").is(404, userNotFound).with("Cache-Status", csStore),
			req("GET", "/user/nobody").is(404, userNotFound).with("Cache-Status", csL1),
			req("GET", "/user/nobody").is(404, userNotFound).with("Cache-Status", csL1)}},
		{name: "503 store down, user not cached", steps: []step{
			registerKiran, closeStore,
			req("GET", "/user/kiran").is(503, unavailableJS).with("Retry-After", "1", "Cache-Status", csFailed),
			req("HEAD", "/user/kiran").is(503, "").with("Retry-After", "1", "Cache-Status", csFailed, "Content-Length", length(unavailableJS))}},
		{name: "store down, user served from L1", steps: []step{registerKiran, getFromStore, closeStore, getFromL1}},

		// PUT and DELETE /user/{username}
		{name: "PUT updates; next GET reads the new email", steps: []step{
			registerKiran, getFromStore, getFromL1,
			step{method: "PUT", path: "/user/kiran", ctype: ctJSONs, body: `{"email":"new@example.com"}`}.
				is(200, `{"data":`+newData+`,"message":"User 'kiran' updated."}`+"\n").with("Cache-Status", csMeth),
			req("GET", "/user/kiran").is(200, `{"data":`+newData+`,"message":"User 'kiran' retrieved from store."}`+"\n").with("Cache-Status", csStore)}},
		{name: "PUT with matching username", steps: []step{
			registerKiran,
			step{method: "PUT", path: "/user/kiran", ctype: ctJSONs, body: `{"username":"kiran","email":"new@example.com"}`}.
				is(200, `{"data":`+newData+`,"message":"User 'kiran' updated."}`+"\n").with("Cache-Status", csMeth)}},
		{name: "PUT 400 other username", steps: []step{
			registerKiran,
			step{method: "PUT", path: "/user/kiran", ctype: ctJSONs, body: `{"username":"bob","email":"new@example.com"}`}.
				is(400, errBody(msgInvalidUsername)).with("Cache-Status", csMeth),
			getFromStore}},
		{name: "PUT 400 missing email", steps: []step{
			step{method: "PUT", path: "/user/kiran", ctype: ctJSONs, body: `{"username":"kiran"}`}.
				is(400, errBody(msgMissingEmail)).with("Cache-Status", csMeth)}},
		{name: "PUT 400 non-object", steps: []step{
			step{method: "PUT", path: "/user/kiran", ctype: ctJSONs, body: `[]`}.
				is(400, errBody(msgMissingEmail)).with("Cache-Status", csMeth)}},
		{name: "PUT 400 invalid email", steps: []step{
			step{method: "PUT", path: "/user/kiran", ctype: ctJSONs, body: `{"email":"nope"}`}.
				is(400, errBody(msgInvalidEmail)).with("Cache-Status", csMeth)}},
		{name: "PUT 400 unknown field", steps: []step{
			step{method: "PUT", path: "/user/kiran", ctype: ctJSONs, body: `{"email":"k@example.com","role":"admin"}`}.
				is(400, errBody("Unknown field 'role'.")).with("Cache-Status", csMeth)}},
		{name: "PUT 400 malformed", steps: []step{
			step{method: "PUT", path: "/user/kiran", ctype: ctJSONs, body: `{"email":`}.
				is(400, errBody(msgMalformed)).with("Cache-Status", csMeth)}},
		{name: "PUT 415", steps: []step{
			step{method: "PUT", path: "/user/kiran", ctype: "text/plain", body: `{"email":"new@example.com"}`}.
				is(415, badType).with("Cache-Status", csMeth)}},
		{name: "PUT 413", steps: []step{
			step{raw: rawRequest("PUT", "/user/kiran", exactLimit+" ")}.
				is(413, tooLarge).with("Cache-Status", csMeth)}},
		{name: "PUT 404 unknown user", steps: []step{
			step{method: "PUT", path: "/user/nobody", ctype: ctJSONs, body: `{"email":"new@example.com"}`}.
				is(404, userNotFound).with("Cache-Status", csMeth)}},
		{name: "PUT 404 invalid name", steps: []step{
			step{method: "PUT", path: "/user/a%2Fb", ctype: ctJSONs, body: `{"email":"new@example.com"}`}.
				is(404, userNotFound).with("Cache-Status", csBypas)}},
		{name: "PUT 503", steps: []step{
			closeStore,
			step{method: "PUT", path: "/user/kiran", ctype: ctJSONs, body: `{"email":"new@example.com"}`}.
				is(503, unavailableJS).with("Cache-Status", csMeth, "Retry-After", "1")}},
		{name: "DELETE, then 404", steps: []step{
			registerKiran, getFromStore, getFromL1,
			req("DELETE", "/user/kiran").is(200, `{"message":"User 'kiran' deleted."}`+"\n").with("Cache-Status", csMeth),
			req("GET", "/user/kiran").is(404, userNotFound).with("Cache-Status", csStore),
			req("DELETE", "/user/kiran").is(404, userNotFound).with("Cache-Status", csMeth)}},
		{name: "DELETE 404 invalid name", steps: []step{
			req("DELETE", "/user/").is(404, userNotFound).with("Cache-Status", csBypas)}},
		{name: "DELETE 503", steps: []step{
			closeStore,
			req("DELETE", "/user/kiran").is(503, unavailableJS).with("Cache-Status", csMeth, "Retry-After", "1")}},

		// Operations and routing
		{name: "healthz", steps: []step{
			req("GET", "/healthz").is(200, `{"status":"ok"}`+"\n"),
			req("HEAD", "/healthz").is(200, "").with("Content-Length", length(`{"status":"ok"}`+"\n"))}},
		{name: "readyz without L2", steps: []step{
			req("GET", "/readyz").is(200, `{"redis":"disabled","status":"ready","store":"ok"}`+"\n")}},
		{name: "readyz with L2", cfg: withL2(), steps: []step{
			req("GET", "/readyz").is(200, `{"redis":"ok","status":"ready","store":"ok"}`+"\n")}},
		{name: "readyz with L2 degraded", cfg: degradedL2(), steps: []step{
			req("GET", "/readyz").is(200, `{"redis":"degraded","status":"ready","store":"ok"}`+"\n")}},
		{name: "readyz 503 store down", cfg: withL2(), steps: []step{
			closeStore,
			req("GET", "/readyz").is(503, `{"redis":"ok","status":"unready","store":"unavailable"}`+"\n")}},
		{name: "404 unknown route", steps: []step{req("GET", "/nope").is(404, notFound)}},
		{name: "404 /user without slash", steps: []step{req("GET", "/user").is(404, notFound)}},
		{name: "404 root", steps: []step{req("GET", "/").is(404, notFound)}},
		{name: "404 /register/", steps: []step{
			step{method: "POST", path: "/register/", ctype: ctJSONs, body: kiranReq}.is(404, notFound)}},
		{name: "405 PATCH /user/kiran", steps: []step{
			req("PATCH", "/user/kiran").is(405, notAllowed).with("Allow", allowUsr, "Cache-Status", csMeth)}},
		{name: "405 POST /user/kiran", steps: []step{
			step{method: "POST", path: "/user/kiran", ctype: ctJSONs, body: kiranReq}.
				is(405, notAllowed).with("Allow", allowUsr, "Cache-Status", csMeth)}},
		{name: "405 GET /register", steps: []step{req("GET", "/register").is(405, notAllowed).with("Allow", allowReg)}},
		{name: "405 POST /healthz", steps: []step{req("POST", "/healthz").is(405, notAllowed).with("Allow", allowProb)}},
		{name: "405 POST /metrics", steps: []step{req("POST", "/metrics").is(405, notAllowed).with("Allow", allowProb)}},
		{name: "405 DELETE /readyz", steps: []step{req("DELETE", "/readyz").is(405, notAllowed).with("Allow", allowProb)}},
		{name: "400 malformed request line", steps: []step{
			step{raw: "GARBAGE\r\n\r\n"}.is(400, errBody("Bad request."))}},
		{name: "431 header beyond the read buffer", steps: []step{
			step{raw: "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 8<<10) + "\r\n\r\n"}.is(431, errBody("Request header too large."))}},
		{name: "400 malformed header line", steps: []step{
			step{raw: "GET /healthz HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\nX-Junk" + strings.Repeat("a", 3000) + "\r\n\r\n"}.is(400, errBody("Bad request."))}},
		{name: "OPTIONS /user/kiran", steps: []step{optionsStep("/user/kiran", allowUsr).with("Cache-Status", csMeth)}},
		{name: "OPTIONS /user/ with an invalid name", steps: []step{optionsStep("/user/a%2Fb", allowUsr).with("Cache-Status", csMeth)}},
		{name: "OPTIONS /register", steps: []step{optionsStep("/register", allowReg)}},
		{name: "OPTIONS /healthz", steps: []step{optionsStep("/healthz", allowProb)}},
		{name: "OPTIONS /readyz", steps: []step{optionsStep("/readyz", allowProb)}},
		{name: "OPTIONS /metrics", steps: []step{optionsStep("/metrics", allowProb)}},
		{name: "OPTIONS *", steps: []step{
			{raw: "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", status: 204, hdr: map[string]string{"Allow": "GET, HEAD, POST, PUT, DELETE, OPTIONS"}}}},
		{name: "404 OPTIONS unknown route", steps: []step{req("OPTIONS", "/nope").is(404, notFound)}},
		{name: "413 announced by Content-Length", steps: []step{
			step{raw: "POST /register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{"}.is(413, tooLarge)}},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, r.cfg)
			for i, s := range r.steps {
				if s.do != nil {
					s.do(t, e)
					continue
				}
				resp := e.do(t, s)
				check(t, i, s, resp)
				fasthttp.ReleaseResponse(resp)
			}
		})
	}
}

// rawRequest is an HTTP/1.1 request with a JSON body, for step.raw: the
// client cannot send a body that the server refuses before reading it.
func rawRequest(method, path, body string) string {
	return method + " " + path + " HTTP/1.1\r\nHost: tiercache\r\nContent-Type: application/json\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

// do sends s and returns the answer; release it with fasthttp.ReleaseResponse.
func (e *env) do(t *testing.T, s step) *fasthttp.Response {
	t.Helper()
	resp := fasthttp.AcquireResponse()
	if s.raw != "" {
		conn, err := e.ln.Dial()
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		// The server may answer and close before it read everything (413),
		// so write concurrently and ignore a failed write.
		go conn.Write([]byte(s.raw)) //nolint:errcheck
		if err := conn.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		if err := resp.Read(bufio.NewReader(conn)); err != nil {
			t.Fatalf("reading the answer to %q: %v", s.raw, err)
		}
		return resp
	}
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	req.Header.SetMethod(s.method)
	req.SetRequestURI("http://tiercache" + s.path)
	if s.ctype != "" {
		req.Header.SetContentType(s.ctype)
	}
	if s.body != "" {
		req.SetBodyString(s.body)
	}
	if err := e.client.Do(req, resp); err != nil {
		t.Fatalf("%s %s: %v", s.method, s.path, err)
	}
	return resp
}

func check(t *testing.T, i int, s step, resp *fasthttp.Response) {
	t.Helper()
	what := s.method + " " + s.path
	if s.raw != "" {
		what = strconv.Quote(s.raw[:min(len(s.raw), 40)])
	}
	if got := resp.StatusCode(); got != s.status {
		t.Errorf("step %d %s: got status %v; want %v", i, what, got, s.status)
	}
	if got := string(resp.Body()); got != s.want {
		t.Errorf("step %d %s: got body %q; want %q", i, what, got, s.want)
	}
	// A 204 has no Content-Type, which the client reports as its default;
	// TestProtocolOnTheWire reads the bytes.
	if got := string(resp.Header.ContentType()); got != ctJSONs && s.status != fasthttp.StatusNoContent {
		t.Errorf("step %d %s: got Content-Type %q; want %q", i, what, got, ctJSONs)
	}
	if got := string(resp.Header.Peek("X-Content-Type-Options")); got != "nosniff" {
		t.Errorf("step %d %s: got X-Content-Type-Options %q; want nosniff", i, what, got)
	}
	for _, k := range checkedHeaders {
		if k == "Content-Length" && s.hdr[k] == "" {
			continue // always present; checked where the row says
		}
		if got, want := string(resp.Header.Peek(k)), s.hdr[k]; got != want {
			t.Errorf("step %d %s: got %s %q; want %q", i, what, k, got, want)
		}
	}
}
