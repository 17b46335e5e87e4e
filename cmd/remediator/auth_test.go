package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/alecthomas/kingpin/v2"

	"github.com/remediator/remediator/internal/httpauth"
	"github.com/remediator/remediator/internal/metricstest"
)

// authEnv is every environment variable that configures a credential of the
// daemon or of `remediator history`.
var authEnv = []string{
	"REMEDIATOR_AUTH_TOKEN", "REMEDIATOR_AUTH_TOKEN_FILE",
	"REMEDIATOR_BASIC_AUTH_USERNAME", "REMEDIATOR_BASIC_AUTH_PASSWORD", "REMEDIATOR_BASIC_AUTH_PASSWORD_FILE",
	"REMEDIATOR_READ_TOKEN", "REMEDIATOR_READ_TOKEN_FILE",
	"REMEDIATOR_READ_BASIC_AUTH_USERNAME", "REMEDIATOR_READ_BASIC_AUTH_PASSWORD", "REMEDIATOR_READ_BASIC_AUTH_PASSWORD_FILE",
}

// clearAuthEnv unsets every credential variable for the test (restored at
// cleanup), so that the machine's environment cannot leak into a case.
func clearAuthEnv(t *testing.T) {
	t.Helper()
	for _, k := range authEnv {
		t.Setenv(k, "") // registers the restore
		if err := os.Unsetenv(k); err != nil {
			t.Fatal(err)
		}
	}
}

// withoutAuthEnv is os.Environ() without the credential variables, for child
// processes.
func withoutAuthEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(authEnv, k) {
			out = append(out, kv)
		}
	}
	return out
}

// writeFile writes content to a new file in the test's directory.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// parseServe parses `remediator serve ARGS` into a serveCmd, as run does.
func parseServe(t *testing.T, args ...string) *serveCmd {
	t.Helper()
	app := kingpin.New("remediator", "").Terminate(nil)
	c := newServeCmd(app)
	if _, err := app.Parse(append([]string{"serve"}, args...)); err != nil {
		t.Fatalf("parsing %q: %v", args, err)
	}
	return c
}

// TestServeRefusesBadSecrets (finding 8): a secret that is empty or only
// whitespace, from a file or the environment, stops the start with an error
// naming where it came from, whatever else is set: it must never turn
// authentication off. Two sources for one role are an error, not an override.
func TestServeRefusesBadSecrets(t *testing.T) {
	empty := writeFile(t, "empty", "")
	blank := writeFile(t, "blank", " \n\t\n")
	other := writeFile(t, "other", "from-the-file\n")
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want []string // substrings of the error
	}{
		{"empty token file", nil, []string{"--auth-token-file", empty}, []string{"--auth-token-file " + empty + ": file is empty"}},
		{"whitespace token file", nil, []string{"--auth-token-file", blank}, []string{"--auth-token-file " + blank + ": file is empty"}},
		{"empty token file, token in env too", map[string]string{"REMEDIATOR_AUTH_TOKEN": "env-token"}, []string{"--auth-token-file", empty},
			[]string{"REMEDIATOR_AUTH_TOKEN", "--auth-token-file"}},
		{"empty token file named by env", map[string]string{"REMEDIATOR_AUTH_TOKEN_FILE": empty}, nil, []string{"REMEDIATOR_AUTH_TOKEN_FILE " + empty + ": file is empty"}},
		{"token env and token file named by env", map[string]string{"REMEDIATOR_AUTH_TOKEN": "env-token", "REMEDIATOR_AUTH_TOKEN_FILE": other}, nil,
			[]string{"REMEDIATOR_AUTH_TOKEN and REMEDIATOR_AUTH_TOKEN_FILE both set the alerts token; use one"}},
		{"token file env set but empty", map[string]string{"REMEDIATOR_AUTH_TOKEN_FILE": ""}, nil, []string{"REMEDIATOR_AUTH_TOKEN_FILE is set but empty"}},
		{"empty token env", map[string]string{"REMEDIATOR_AUTH_TOKEN": ""}, nil, []string{"REMEDIATOR_AUTH_TOKEN is set but empty"}},
		{"whitespace token env", map[string]string{"REMEDIATOR_AUTH_TOKEN": " \t"}, nil, []string{"REMEDIATOR_AUTH_TOKEN is set but empty"}},
		{"token env with surrounding space", map[string]string{"REMEDIATOR_AUTH_TOKEN": " tok"}, nil, []string{"REMEDIATOR_AUTH_TOKEN", "whitespace"}},
		{"token env and token file", map[string]string{"REMEDIATOR_AUTH_TOKEN": "env-token"}, []string{"--auth-token-file", other},
			[]string{"REMEDIATOR_AUTH_TOKEN", "--auth-token-file", "use one"}},
		{"empty read token env", map[string]string{"REMEDIATOR_AUTH_TOKEN": "a", "REMEDIATOR_READ_TOKEN": ""}, nil, []string{"REMEDIATOR_READ_TOKEN is set but empty"}},
		{"empty read token file", map[string]string{"REMEDIATOR_AUTH_TOKEN": "a"}, []string{"--read-token-file", empty}, []string{"--read-token-file " + empty + ": file is empty"}},
		{"read token env and file", map[string]string{"REMEDIATOR_AUTH_TOKEN": "a", "REMEDIATOR_READ_TOKEN": "r"}, []string{"--read-token-file", other},
			[]string{"REMEDIATOR_READ_TOKEN", "--read-token-file", "use one"}},
		{"empty basic password env", map[string]string{"REMEDIATOR_BASIC_AUTH_PASSWORD": ""}, []string{"--basic-auth-username", "am"},
			[]string{"REMEDIATOR_BASIC_AUTH_PASSWORD is set but empty"}},
		{"empty basic password file", nil, []string{"--basic-auth-username", "am", "--basic-auth-password-file", blank},
			[]string{"--basic-auth-password-file " + blank + ": file is empty"}},
		{"basic password env and file", map[string]string{"REMEDIATOR_BASIC_AUTH_PASSWORD": "pw"}, []string{"--basic-auth-username", "am", "--basic-auth-password-file", other},
			[]string{"REMEDIATOR_BASIC_AUTH_PASSWORD", "--basic-auth-password-file", "use one"}},
		{"basic username without password", nil, []string{"--basic-auth-username", "am"}, []string{"--basic-auth-username", "password"}},
		{"basic password without username", map[string]string{"REMEDIATOR_BASIC_AUTH_PASSWORD": "pw"}, nil, []string{"REMEDIATOR_BASIC_AUTH_PASSWORD", "username"}},
		{"empty basic username env", map[string]string{"REMEDIATOR_BASIC_AUTH_USERNAME": "", "REMEDIATOR_BASIC_AUTH_PASSWORD": "pw"}, nil,
			[]string{"REMEDIATOR_BASIC_AUTH_USERNAME is set but empty"}},
		{"whitespace read basic password env", map[string]string{"REMEDIATOR_AUTH_TOKEN": "a", "REMEDIATOR_READ_BASIC_AUTH_USERNAME": "prom", "REMEDIATOR_READ_BASIC_AUTH_PASSWORD": "  "}, nil,
			[]string{"REMEDIATOR_READ_BASIC_AUTH_PASSWORD is set but empty"}},
		{"empty read basic password file", map[string]string{"REMEDIATOR_AUTH_TOKEN": "a"}, []string{"--read-basic-auth-username", "prom", "--read-basic-auth-password-file", empty},
			[]string{"--read-basic-auth-password-file " + empty + ": file is empty"}},
		{"read credential without an alerts one", map[string]string{"REMEDIATOR_READ_TOKEN": "r"}, nil, []string{"read", "alerts"}},
		{"read token is the alerts token", map[string]string{"REMEDIATOR_AUTH_TOKEN": "same", "REMEDIATOR_READ_TOKEN": "same"}, nil, []string{"alerts", "read", "same"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearAuthEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			c := parseServe(t, tt.args...)
			_, err := c.authenticator()
			if err == nil {
				t.Fatal("no error: the daemon would start")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestServeCredentialSources is the positive control of
// TestServeRefusesBadSecrets: each way of setting a credential gives the
// role it names, and only that role once a read credential is set.
func TestServeCredentialSources(t *testing.T) {
	alertsFile := writeFile(t, "alerts", "file-alerts\n")
	readFile := writeFile(t, "read", "  file-read\n")
	passFile := writeFile(t, "pass", "file-pw\n")
	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	basic := func(u, p string) func(*http.Request) {
		return func(r *http.Request) { r.SetBasicAuth(u, p) }
	}
	type check struct {
		role httpauth.Role
		set  func(*http.Request)
		want int
	}
	tests := []struct {
		name   string
		env    map[string]string
		args   []string
		none   bool // no authentication at all
		checks []check
	}{
		{name: "nothing set", none: true},
		{name: "alerts token file with a newline", args: []string{"--auth-token-file", alertsFile}, checks: []check{
			{httpauth.Alerts, bearer("file-alerts"), 200}, {httpauth.Read, bearer("file-alerts"), 200},
			{httpauth.Alerts, bearer("file-alert"), 401},
		}},
		{name: "alerts token file named by its variable", env: map[string]string{"REMEDIATOR_AUTH_TOKEN_FILE": alertsFile}, checks: []check{
			{httpauth.Alerts, bearer("file-alerts"), 200},
		}},
		{name: "alerts and read tokens from env", env: map[string]string{"REMEDIATOR_AUTH_TOKEN": "a", "REMEDIATOR_READ_TOKEN": "r"}, checks: []check{
			{httpauth.Alerts, bearer("a"), 200}, {httpauth.Read, bearer("a"), 403},
			{httpauth.Read, bearer("r"), 200}, {httpauth.Alerts, bearer("r"), 403},
		}},
		{name: "read token file", env: map[string]string{"REMEDIATOR_AUTH_TOKEN": "a"}, args: []string{"--read-token-file", readFile}, checks: []check{
			{httpauth.Read, bearer("file-read"), 200}, {httpauth.Read, bearer("a"), 403},
		}},
		{name: "alerts basic from env, read basic from flags", env: map[string]string{
			"REMEDIATOR_BASIC_AUTH_USERNAME": "am", "REMEDIATOR_BASIC_AUTH_PASSWORD": "env pw",
		}, args: []string{"--read-basic-auth-username", "prom", "--read-basic-auth-password-file", passFile}, checks: []check{
			{httpauth.Alerts, basic("am", "env pw"), 200}, {httpauth.Read, basic("am", "env pw"), 403},
			{httpauth.Read, basic("prom", "file-pw"), 200}, {httpauth.Alerts, basic("prom", "file-pw"), 403},
			{httpauth.Read, basic("prom", "env pw"), 401},
		}},
		{name: "alerts token and basic both", env: map[string]string{"REMEDIATOR_AUTH_TOKEN": "a", "REMEDIATOR_BASIC_AUTH_PASSWORD": "pw"},
			args: []string{"--basic-auth-username", "am"}, checks: []check{
				{httpauth.Alerts, bearer("a"), 200}, {httpauth.Alerts, basic("am", "pw"), 200}, {httpauth.Read, basic("am", "pw"), 200},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearAuthEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			auth, err := parseServe(t, tt.args...).authenticator()
			if err != nil {
				t.Fatal(err)
			}
			if (auth == nil) != tt.none {
				t.Fatalf("authenticator = %v, want none: %v", auth, tt.none)
			}
			for i, c := range tt.checks {
				h := auth.Middleware(c.role, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
				r := httptest.NewRequest(http.MethodGet, "/", nil)
				c.set(r)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != c.want {
					t.Errorf("check %d (%s): %d, want %d", i, c.role, w.Code, c.want)
				}
			}
		})
	}
}

// TestServeCredentialsByRole (finding 7) runs the daemon with an alerts
// token and a read token: each grants its own role only. Positive controls:
// with only the alerts token (the quick start's way) it posts and reads, and
// server.metrics_auth: none opens /metrics but not the history.
func TestServeCredentialsByRole(t *testing.T) {
	bin := buildBinary(t)
	const alertsTok, readTok = "alerts-token", "read-token"
	metricsNone := writeFile(t, "metrics-none.yaml", "server:\n  metrics_auth: none\n")
	type req struct {
		method, path, token string
		want                int
	}
	post, history, metrics := "/api/v1/alerts", "/api/v1/remediations", "/metrics"
	tests := []struct {
		name     string
		env      []string
		args     []string
		reqs     []req
		wantLog  int // lines saying the alerts credential also reads
		want401s float64
		want403s float64
		readWith string // token that scrapes the webhook counters at the end
	}{
		{
			name: "alerts and read tokens",
			env:  []string{"REMEDIATOR_AUTH_TOKEN=" + alertsTok, "REMEDIATOR_READ_TOKEN=" + readTok},
			reqs: []req{
				{"POST", post, alertsTok, 200},
				{"POST", post, readTok, 403},
				{"POST", post, "", 401},
				{"POST", post, "wrong", 401},
				{"GET", history, alertsTok, 403},
				{"GET", history + "/0123456789abcdef01234567", alertsTok, 403},
				{"GET", history, readTok, 200},
				{"GET", history, "", 401},
				{"GET", metrics, alertsTok, 403},
				{"GET", metrics, readTok, 200},
				{"GET", metrics, "", 401},
			},
			want401s: 2, want403s: 1, readWith: readTok,
		},
		{
			name: "alerts token only",
			env:  []string{"REMEDIATOR_AUTH_TOKEN=" + alertsTok},
			reqs: []req{
				{"POST", post, alertsTok, 200},
				{"GET", history, alertsTok, 200},
				{"GET", metrics, alertsTok, 200},
				{"GET", history, "", 401},
				{"GET", metrics, "", 401},
				{"POST", post, "", 401},
			},
			wantLog: 1, want401s: 1, readWith: alertsTok,
		},
		{
			name: "metrics_auth none",
			env:  []string{"REMEDIATOR_AUTH_TOKEN=" + alertsTok, "REMEDIATOR_READ_TOKEN=" + readTok},
			args: []string{"--config=" + metricsNone},
			reqs: []req{
				{"GET", metrics, "", 200},
				{"GET", history, "", 401},
				{"GET", history, alertsTok, 403},
				{"GET", history, readTok, 200},
				{"POST", post, "", 401},
				{"POST", post, alertsTok, 200},
			},
			want401s: 1, readWith: "",
		},
	}
	body := sampleAlert(t, "high-cpu.json")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := startDaemon(t, bin, tt.env, append([]string{"--audit=memory"}, tt.args...)...)
			for _, r := range tt.reqs {
				var b []byte
				if r.method == http.MethodPost {
					b = body
				}
				code, hdr, resp := d.request(t, r.method, r.path, r.token, b)
				if code != r.want {
					t.Errorf("%s %s with %q: %d, want %d: %.200s", r.method, r.path, r.token, code, r.want, resp)
				}
				if code == http.StatusUnauthorized && len(hdr.Values("WWW-Authenticate")) == 0 {
					t.Errorf("%s %s with %q: 401 without a WWW-Authenticate challenge", r.method, r.path, r.token)
				}
			}
			// Rejected webhook requests are still counted by code.
			code, _, m := d.request(t, http.MethodGet, metrics, tt.readWith, nil)
			if code != http.StatusOK {
				t.Fatalf("scraping /metrics: %d", code)
			}
			for c, want := range map[string]float64{"401": tt.want401s, "403": tt.want403s} {
				if got := metricstest.Scraped(t, string(m), "remediator_webhook_requests_total", map[string]string{"code": c}); got != want {
					t.Errorf("remediator_webhook_requests_total{code=%q} = %v, want %v", c, got, want)
				}
			}
			if n := strings.Count(d.log(), "also reads"); n != tt.wantLog {
				t.Errorf("%d log lines saying the alerts credential also reads, want %d:\n%s", n, tt.wantLog, d.log())
			}
		})
	}
}

// request sends one request with a bearer token ("" for none).
func (d *daemonProc) request(t *testing.T, method, path, token string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+d.addr+path, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return resp.StatusCode, resp.Header, buf.Bytes()
}

// TestHistoryURLSendsReadToken: `remediator history --url` authenticates with
// the read credential, and with the alerts one only when no read one is
// given (a daemon with only an alerts credential lets it read).
func TestHistoryURLSendsReadToken(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"items": []any{}})
	}))
	defer srv.Close()
	readFile := writeFile(t, "read", "file-read-token\n")
	alertsFile := writeFile(t, "alerts", "file-alerts-token\n")
	empty := writeFile(t, "empty", "\n")

	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		want     string // Authorization header sent
		wantErr  string // instead: exit 1 with this on stderr
		wantCode int
	}{
		{name: "read token env over alerts token", env: map[string]string{"REMEDIATOR_AUTH_TOKEN": "alerts", "REMEDIATOR_READ_TOKEN": "read"}, want: "Bearer read"},
		{name: "read token file over alerts token", env: map[string]string{"REMEDIATOR_AUTH_TOKEN": "alerts"}, args: []string{"--read-token-file", readFile}, want: "Bearer file-read-token"},
		{name: "alerts token env when no read one", env: map[string]string{"REMEDIATOR_AUTH_TOKEN": "alerts"}, want: "Bearer alerts"},
		{name: "alerts token file when no read one", args: []string{"--auth-token-file", alertsFile}, want: "Bearer file-alerts-token"},
		{name: "no credential", want: ""},
		{name: "read token env and file", env: map[string]string{"REMEDIATOR_READ_TOKEN": "read"}, args: []string{"--read-token-file", readFile},
			wantCode: 1, wantErr: "use one"},
		{name: "empty read token file", env: map[string]string{"REMEDIATOR_AUTH_TOKEN": "alerts"}, args: []string{"--read-token-file", empty},
			wantCode: 1, wantErr: "--read-token-file " + empty + ": file is empty"},
		{name: "empty read token env", env: map[string]string{"REMEDIATOR_AUTH_TOKEN": "alerts", "REMEDIATOR_READ_TOKEN": ""},
			wantCode: 1, wantErr: "REMEDIATOR_READ_TOKEN is set but empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearAuthEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			mu.Lock()
			got = nil
			mu.Unlock()
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"history", "--url", srv.URL}, tt.args...), &stdout, &stderr)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d: %s", code, tt.wantCode, stderr.String())
			}
			mu.Lock()
			defer mu.Unlock()
			if tt.wantErr != "" {
				if !strings.Contains(stderr.String(), tt.wantErr) {
					t.Errorf("stderr %q does not say %q", stderr.String(), tt.wantErr)
				}
				if len(got) != 0 {
					t.Errorf("a request was sent: %q", got)
				}
				return
			}
			if len(got) != 1 || got[0] != tt.want {
				t.Errorf("Authorization sent: %q, want %q", got, tt.want)
			}
		})
	}
}
