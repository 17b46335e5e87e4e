package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/remediator/remediator/internal/config"
	"github.com/remediator/remediator/internal/dispatch"
	"github.com/remediator/remediator/internal/state"
	"github.com/remediator/remediator/policies"
	"github.com/remediator/remediator/receiver"
	"github.com/remediator/remediator/remediations"
	"github.com/remediator/remediator/remediations/builtin"
)

// EvalOutput is `remediator eval -o json`'s document. Its shape is stable:
// fields are only ever added.
type EvalOutput struct {
	// Alerts holds one outcome per alert of the payload, in payload order.
	Alerts []dispatch.Outcome `json:"alerts"`
}

type evalCmd struct {
	cmd        *kingpin.CmdClause
	alertFile  string
	policyDir  string
	noBundled  bool
	configFile string
	output     string
	failOn     statusSet
	log        *logFlags
}

// exitFailOn is eval's exit code when an outcome is one of --fail-on's
// statuses: distinct from 1 (eval could not run) and 2 (bad usage), so that
// CI can tell a sample that would be denied from a broken job.
const exitFailOn = 3

// evalStatuses are the outcome statuses eval can report, as --fail-on takes
// them. Eval executes nothing, so dispatch.StatusExecuted is not one.
func evalStatuses() []string {
	return []string{
		dispatch.StatusPlanned, dispatch.StatusDenied, dispatch.StatusNoRunbook, dispatch.StatusInvalidTarget,
		dispatch.StatusFailed, dispatch.StatusResolved, dispatch.StatusIncidentOpen, dispatch.StatusIncidentClosed,
	}
}

// statusSet is --fail-on's value: outcome statuses, given as a
// comma-separated list, or by repeating the flag. A status eval cannot
// report is refused, so that a typo cannot make the CI check pass forever.
type statusSet map[string]bool

func (s statusSet) Set(v string) error {
	if strings.TrimSpace(v) == "" {
		return fmt.Errorf("--fail-on: no status given: want one or more of %s", strings.Join(evalStatuses(), ", "))
	}
	for st := range strings.SplitSeq(v, ",") {
		st = strings.TrimSpace(st)
		switch {
		case slices.Contains(evalStatuses(), st):
			s[st] = true
		case st == dispatch.StatusExecuted:
			return fmt.Errorf("--fail-on %q: eval never executes an action, so no outcome is %s (planned is what would run)", st, st)
		default:
			return fmt.Errorf("--fail-on: unknown status %q: want one or more of %s", st, strings.Join(evalStatuses(), ", "))
		}
	}
	return nil
}

func (s statusSet) String() string { return strings.Join(slices.Sorted(maps.Keys(s)), ",") }

// IsCumulative lets kingpin take the flag more than once.
func (s statusSet) IsCumulative() bool { return true }

func newEvalCmd(app *kingpin.Application) *evalCmd {
	c := &evalCmd{failOn: statusSet{}}
	c.cmd = app.Command("eval", "Show what remediator would do for each alert of an Alertmanager webhook payload, executing nothing.\n\n"+
		"For each alert: the runbook matched, the target, the investigations, every resolution option considered\n"+
		"with the policy decision, its reasons and any lowered parameters, and the plan of the option taken.\n"+
		"Alerts are evaluated in order against fresh in-memory state, so later alerts see the earlier ones' actions\n"+
		"(cooldowns, rate limits) as the daemon would.\n\n"+
		"For CI, --fail-on makes eval exit 3 when any alert's outcome is one of the statuses listed (the report is\n"+
		"printed all the same, and the alerts that matched are named on standard error). The statuses:\n"+
		"  planned         an option was allowed (in the daemon it would run)\n"+
		"  denied          policy allowed no option\n"+
		"  no_runbook      no runbook selects the alert\n"+
		"  invalid_target  the alert's labels do not name the runbook's target\n"+
		"  failed          the option allowed could not be planned\n"+
		"  resolved        a resolved notification (never acts)\n"+
		"  incident_open, incident_closed  a repeat of an earlier alert of the payload\n"+
		"Exit codes: 0 done, 1 eval could not run (bad payload, config or policy), 2 bad usage, 3 --fail-on matched.\n\n"+
		"Examples:\n"+
		"  remediator eval --alert deploy/examples/alerts/high-cpu.json\n"+
		"  remediator eval --alert alert.json --policy ./policies --config remediator.yaml -o json\n"+
		"  remediator eval --alert alert.json --fail-on denied,no_runbook,invalid_target,failed")
	c.cmd.Flag("alert", "Webhook payload file (Alertmanager version 4 JSON); - reads standard input.").Required().StringVar(&c.alertFile)
	c.cmd.Flag("policy", "Directory of Rego modules and data files loaded beside the bundled policy.").ExistingDirVar(&c.policyDir)
	c.cmd.Flag("policy-dir", "Alias of --policy.").Hidden().ExistingDirVar(&c.policyDir)
	c.cmd.Flag("no-bundled-policy", "Do not load the bundled policy.").BoolVar(&c.noBundled)
	c.cmd.Flag("config", "YAML config file (runbooks).").Short('c').ExistingFileVar(&c.configFile)
	c.cmd.Flag("output", "Output format: text or json.").Short('o').Default("text").EnumVar(&c.output, "text", "json")
	c.cmd.Flag("fail-on", "Exit 3 when an alert's outcome is one of these statuses (comma-separated, or repeat the flag): "+
		strings.Join(evalStatuses(), ", ")+".").PlaceHolder("STATUS,...").SetValue(c.failOn)
	c.log = addLogFlags(c.cmd)
	return c
}

func (c *evalCmd) run(chosen string, stdout, stderr io.Writer) (int, bool) {
	if chosen != c.cmd.FullCommand() {
		return 0, false
	}
	out, err := c.eval(context.Background(), stderr)
	if err != nil {
		fmt.Fprintln(stderr, "remediator eval:", err)
		return 1, true
	}
	if c.output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			fmt.Fprintln(stderr, "remediator eval:", err)
			return 1, true
		}
	} else {
		writeEvalText(stdout, out)
	}
	if matched := c.failOn.matching(out.Alerts); len(matched) > 0 {
		fmt.Fprintf(stderr, "remediator eval: --fail-on %s: %d of %d alerts: %s\n", c.failOn, len(matched), len(out.Alerts), strings.Join(matched, "; "))
		return exitFailOn, true
	}
	return 0, true
}

// matching describes the outcomes whose status is in s, for the message
// that says why eval failed.
func (s statusSet) matching(outcomes []dispatch.Outcome) []string {
	var matched []string
	for _, o := range outcomes {
		if s[o.Status] {
			matched = append(matched, fmt.Sprintf("%s (fingerprint %s) %s", o.Alert.Name, o.Alert.Fingerprint, o.Status))
		}
	}
	return matched
}

func (c *evalCmd) eval(ctx context.Context, stderr io.Writer) (*EvalOutput, error) {
	// Logs would interleave with the report; only warnings and worse go to stderr.
	if c.log.level == "info" {
		c.log.level = "warn"
	}
	log, err := c.log.logger(stderr)
	if err != nil {
		return nil, err
	}
	catalog, err := builtin.Catalog()
	if err != nil {
		return nil, err
	}
	cfg, err := config.Load(c.configFile, catalog)
	if err != nil {
		return nil, err
	}
	msg, err := readPayload(c.alertFile, cfg.Receiver.Limits())
	if err != nil {
		return nil, err
	}
	opts := []policies.Option{policies.WithLogger(log), policies.WithOwnNamespace(cfg.Policy.OwnNamespace)}
	if c.policyDir != "" {
		opts = append(opts, policies.WithDir(c.policyDir))
	} else if cfg.Policy.Dir != "" {
		opts = append(opts, policies.WithDir(cfg.Policy.Dir))
	}
	if c.noBundled || !cfg.BundledPolicy() {
		opts = append(opts, policies.WithoutBundled())
	}
	engine, err := policies.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading policy: %w", err)
	}
	// A frozen clock keeps the output reproducible (golden files, CI diffs).
	now := time.Now()
	clock := func() time.Time { return now }
	p := &dispatch.Processor{
		Runbooks: cfg.RunbookSet, Policy: engine, State: state.NewMemory(clock),
		Executor: remediations.DryRun{}, DryRun: true, Log: log, Metrics: dispatch.NewMetrics(nil), Now: clock,
	}
	out := &EvalOutput{Alerts: []dispatch.Outcome{}}
	for _, a := range msg.Queued(now) {
		out.Alerts = append(out.Alerts, p.Process(ctx, a))
	}
	return out, nil
}

// readPayload reads a webhook payload and refuses it when the daemon would
// refuse any of its alerts (the daemon would process the others, but a
// sample that is not what it seems is worth knowing about).
func readPayload(path string, lim receiver.Limits) (*receiver.Message, error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("reading alert payload: %w", err)
		}
		defer f.Close()
		r = f
	}
	msg, rejected, err := receiver.Decode(r, lim)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(rejected) > 0 {
		rj := rejected[0]
		return nil, fmt.Errorf("%s: alerts[%d]: %s (the daemon refuses this alert; %d refused in all)", path, rj.Index, rj.Reason, len(rejected))
	}
	return msg, nil
}

// writeEvalText renders the outcomes for a person.
func writeEvalText(w io.Writer, out *EvalOutput) {
	for i, o := range out.Alerts {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "alert %s (%s) fingerprint=%s\n", o.Alert.Name, o.Alert.Status, o.Alert.Fingerprint)
		if o.Runbook == "" {
			fmt.Fprintf(w, "  result:   %s\n", describeStatus(o))
			continue
		}
		fmt.Fprintf(w, "  runbook:  %s\n", o.Runbook)
		if o.Target != nil {
			fmt.Fprintf(w, "  target:   %s\n", o.Target)
		}
		if len(o.Investigations) > 0 {
			fmt.Fprintln(w, "  investigations:")
			for _, s := range o.Investigations {
				if s.Error != "" {
					fmt.Fprintf(w, "    %s: error: %s\n", s.Action, s.Error)
					continue
				}
				fmt.Fprintf(w, "    %s: %s\n", s.Action, strings.Join(s.Result.Plan.Calls, "; "))
			}
		}
		for _, opt := range o.Options {
			fmt.Fprintf(w, "  option %d: %s on %s %s\n", opt.Option, opt.Action, opt.Target, compactJSON(opt.Params))
			if opt.Decision == nil {
				fmt.Fprintf(w, "    skipped: %s\n", opt.Error)
				continue
			}
			verdict := "DENY"
			if opt.Decision.Allow {
				verdict = "ALLOW"
			}
			fmt.Fprintf(w, "    decision: %s\n", verdict)
			for _, r := range opt.Decision.Reasons {
				fmt.Fprintf(w, "      - %s\n", r)
			}
			if opt.Decision.Allow {
				fmt.Fprintf(w, "    params:   %s\n", compactJSON(opt.Decision.Params))
			}
			if opt.Result != nil && len(opt.Result.Plan.Calls) > 0 {
				fmt.Fprintln(w, "    plan:")
				for _, call := range opt.Result.Plan.Calls {
					fmt.Fprintf(w, "      %s\n", call)
				}
			}
			if opt.Error != "" {
				fmt.Fprintf(w, "    error: %s\n", opt.Error)
			}
		}
		fmt.Fprintf(w, "  result:   %s\n", describeStatus(o))
	}
}

func describeStatus(o dispatch.Outcome) string {
	switch o.Status {
	case dispatch.StatusPlanned:
		return fmt.Sprintf("planned option %d (dry-run, nothing executed)", o.Chosen)
	case dispatch.StatusDenied:
		return "denied: policy allowed no option"
	case dispatch.StatusNoRunbook:
		return "no runbook matches this alert"
	case dispatch.StatusResolved:
		return "resolved: resolutions never act on a resolved alert"
	case dispatch.StatusInvalidTarget:
		return "invalid target: " + o.Error
	case dispatch.StatusDropped:
		return "dropped: " + o.Error
	}
	return o.Status
}

func compactJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
