package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/remediator/remediator/internal/audit"
	"github.com/remediator/remediator/internal/config"
	"github.com/remediator/remediator/internal/httpauth"
)

type historyCmd struct {
	cmd           *kingpin.CmdClause
	url           string
	readTokenFile string
	tokenFile     string
	audit         string
	output        string
	query         map[string]*string
	limit         int
}

func newHistoryCmd(app *kingpin.Application) *historyCmd {
	c := &historyCmd{query: map[string]*string{}}
	c.cmd = app.Command("history", "Show the audit history, newest first: what each alert led to, which action ran on which target, the result.\n\n"+
		"Reads a running daemon's API (--url, with the read token from REMEDIATOR_READ_TOKEN or --read-token-file; without\n"+
		"one, the alerts token from REMEDIATOR_AUTH_TOKEN or --auth-token-file, which reads while the daemon has no read\n"+
		"credential), or the store directly (--audit, REMEDIATOR_AUDIT_POSTGRES_DSN, else the default SQLite file\n"+
		"`remediator serve` writes).\n"+
		"`remediator history --id ID -o json` would be the API's GET /api/v1/remediations/ID; use the API for one record's evidence.\n\n"+
		"Examples:\n"+
		"  remediator history --since 24h\n"+
		"  remediator history --result failed --action postgres.terminate_idle --limit 20\n"+
		"  REMEDIATOR_READ_TOKEN=s3cret remediator history --url http://remediator:9095 --alertname HighCPUUsage --target order-service\n"+
		"  remediator history --audit sqlite:///var/lib/remediator/audit.db -o json")
	c.cmd.Flag("url", "Base URL of a running daemon whose API to read (instead of the store).").Envar("REMEDIATOR_URL").StringVar(&c.url)
	c.cmd.Flag("read-token-file", "File holding the read token for --url (else REMEDIATOR_READ_TOKEN).").Envar("REMEDIATOR_READ_TOKEN_FILE").ExistingFileVar(&c.readTokenFile)
	c.cmd.Flag("auth-token-file", "File holding the alerts token, used for --url when no read token is given (else REMEDIATOR_AUTH_TOKEN).").
		Envar("REMEDIATOR_AUTH_TOKEN_FILE").ExistingFileVar(&c.tokenFile)
	c.cmd.Flag("audit", "The store to read: sqlite:///path/audit.db or postgres://... (default: REMEDIATOR_AUDIT_POSTGRES_DSN, else the default SQLite file).").
		PlaceHolder("DSN").StringVar(&c.audit)
	for _, f := range []struct{ name, help string }{
		{"alertname", "Only this alert name."},
		{"runbook", "Only this runbook."},
		{"target", "Only targets containing this (e.g. order-service)."},
		{"action", "Only records whose action taken is this (e.g. kubernetes.scale)."},
		{"result", "Only this result: " + strings.Join(audit.Results, ", ") + "."},
		{"since", "From this time on: RFC 3339, or a duration back from now (24h)."},
		{"until", "Before this time: RFC 3339, or a duration back from now."},
		{"cursor", "Continue after a previous page (the cursor it printed)."},
	} {
		c.query[f.name] = c.cmd.Flag(f.name, f.help).String()
	}
	c.cmd.Flag("limit", "How many records (1-1000).").Default("50").IntVar(&c.limit)
	c.cmd.Flag("output", "text (a table) or json (the API's page).").Short('o').Default("text").EnumVar(&c.output, "text", "json")
	return c
}

func (c *historyCmd) run(chosen string, stdout, stderr io.Writer) (int, bool) {
	if chosen != c.cmd.FullCommand() {
		return 0, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	q := url.Values{"limit": {strconv.Itoa(c.limit)}}
	for k, v := range c.query {
		if *v != "" {
			q.Set(k, *v)
		}
	}
	f, err := audit.ParseQuery(q, time.Now())
	if err != nil {
		fmt.Fprintln(stderr, "remediator history:", err)
		return 2, true
	}
	var page audit.Page
	if c.url != "" {
		page, err = c.fromAPI(ctx, q)
	} else {
		page, err = c.fromStore(ctx, f)
	}
	if err != nil {
		fmt.Fprintln(stderr, "remediator history:", err)
		return 1, true
	}
	if c.output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(page)
		return 0, true
	}
	printHistory(stdout, page)
	return 0, true
}

func (c *historyCmd) fromStore(ctx context.Context, f audit.Filter) (audit.Page, error) {
	dsn := c.audit
	if dsn == "" {
		dsn = os.Getenv(config.EnvAuditPostgresDSN)
	}
	if dsn == "" {
		path := audit.DefaultPath(os.Getenv)
		if _, err := os.Stat(path); err != nil {
			return audit.Page{}, fmt.Errorf("no audit history at %s (remediator serve writes it there by default; pass --audit or --url): %w", path, err)
		}
		dsn = "sqlite://" + path
	}
	if file, ok := strings.CutPrefix(dsn, "sqlite://"); ok {
		// Reading must not create: opening a mistyped path would make an
		// empty database and report "no records".
		file, _, _ = strings.Cut(file, "?")
		if _, err := os.Stat(file); err != nil {
			return audit.Page{}, fmt.Errorf("no audit history at %s: %w", file, err)
		}
	}
	s, err := audit.Open(ctx, dsn, audit.Options{MaxConns: 1})
	if err != nil {
		return audit.Page{}, err
	}
	defer s.Close()
	return s.List(ctx, f)
}

func (c *historyCmd) fromAPI(ctx context.Context, q url.Values) (audit.Page, error) {
	token, err := c.token()
	if err != nil {
		return audit.Page{}, err
	}
	u := strings.TrimSuffix(c.url, "/") + "/api/v1/remediations?" + q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return audit.Page{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return audit.Page{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return audit.Page{}, fmt.Errorf("reading %s: %w", c.url, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return audit.Page{}, fmt.Errorf("%s: %s: %s", c.url, resp.Status, e.Error)
		}
		return audit.Page{}, fmt.Errorf("%s: %s", c.url, resp.Status)
	}
	var page audit.Page
	if err := json.Unmarshal(body, &page); err != nil {
		return audit.Page{}, errors.New("the daemon's answer is not a page of records: " + err.Error())
	}
	return page, nil
}

// token is the bearer token for --url: the read token, else the alerts one
// (which reads while the daemon has no read credential), else none. As for
// serve, a token set but empty is an error, not "none".
func (c *historyCmd) token() (string, error) {
	read, _, err := tokenSource(httpauth.Read, c.readTokenFile).read()
	if err != nil || read != "" {
		return read, err
	}
	alerts, _, err := tokenSource(httpauth.Alerts, c.tokenFile).read()
	return alerts, err
}

// printHistory writes a page as a table for a person at a terminal.
func printHistory(w io.Writer, page audit.Page) {
	if len(page.Items) == 0 {
		fmt.Fprintln(w, "no records")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME (UTC)\tALERT\tRUNBOOK\tTARGET\tACTION\tRESULT\tID\tERROR")
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	for _, r := range page.Items {
		errMsg := r.Error
		if len(errMsg) > 60 {
			errMsg = errMsg[:57] + "..."
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Time.UTC().Format("2006-01-02 15:04:05"), dash(r.Alertname),
			dash(r.Runbook), dash(r.Target), dash(r.Action), r.Result, r.ID, errMsg)
	}
	_ = tw.Flush()
	if page.NextCursor != "" {
		fmt.Fprintf(w, "more: --cursor %s\n", page.NextCursor)
	}
}
