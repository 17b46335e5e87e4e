package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/alecthomas/kingpin/v2"
	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/remediator/remediator/internal/metricstest"
)

// cgroupSays is a memlimit.Provider answering as the cgroup files would.
func cgroupSays(limit uint64, err error) memlimit.Provider {
	return func() (uint64, error) { return limit, err }
}

// cgroupUnread fails the test if the cgroup is consulted.
func cgroupUnread(t *testing.T) memlimit.Provider {
	return func() (uint64, error) {
		t.Error("the cgroup was read although a flag or GOMEMLIMIT set the limit")
		return 0, errors.New("not to be read")
	}
}

func TestChooseMemoryLimit(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name       string
		flag       int64
		goMemLimit string
		cgroup     memlimit.Provider // nil: must not be read
		want       memoryLimit
	}{
		{name: "flag", flag: 200 * mib,
			want: memoryLimit{bytes: 200 * mib, set: true, source: memLimitFromFlag}},
		{name: "flag over GOMEMLIMIT", flag: 200 * mib, goMemLimit: "1GiB",
			want: memoryLimit{bytes: 200 * mib, set: true, source: memLimitFromFlag}},
		{name: "GOMEMLIMIT: the runtime applied it", goMemLimit: "150MiB",
			want: memoryLimit{source: memLimitFromEnv}},
		{name: "GOMEMLIMIT=off is the operator's choice too", goMemLimit: "off",
			want: memoryLimit{source: memLimitFromEnv}},
		{name: "cgroup v2 memory.max 256Mi", cgroup: cgroupSays(256*mib, nil),
			want: memoryLimit{bytes: 187904819, set: true, source: memLimitFromCgroup, container: 256 * mib}},
		{name: "cgroup 1Gi", cgroup: cgroupSays(1<<30, nil),
			want: memoryLimit{bytes: 751619276, set: true, source: memLimitFromCgroup, container: 1 << 30}},
		{name: "cgroup without a limit (memory.max max)", cgroup: cgroupSays(0, memlimit.ErrNoLimit),
			want: memoryLimit{source: memLimitNone, reason: memlimit.ErrNoLimit}},
		{name: "not in a cgroup", cgroup: cgroupSays(0, memlimit.ErrNoCgroup),
			want: memoryLimit{source: memLimitNone, reason: memlimit.ErrNoCgroup}},
		{name: "no cgroups on this system", cgroup: cgroupSays(0, memlimit.ErrCgroupsNotSupported),
			want: memoryLimit{source: memLimitNone, reason: memlimit.ErrCgroupsNotSupported}},
		{name: "cgroup files unreadable", cgroup: cgroupSays(0, fs.ErrPermission),
			want: memoryLimit{source: memLimitNone, reason: fs.ErrPermission}},
		{name: "zero read as no limit", cgroup: cgroupSays(0, nil),
			want: memoryLimit{source: memLimitNone, reason: memlimit.ErrNoLimit}},
		{name: "larger than an int64 after the ratio", cgroup: cgroupSays(math.MaxUint64, nil),
			want: memoryLimit{source: memLimitNone, reason: memlimit.ErrNoLimit}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cgroup := tc.cgroup
			if cgroup == nil {
				cgroup = cgroupUnread(t)
			}
			got := chooseMemoryLimit(tc.flag, tc.goMemLimit, cgroup)
			if got.bytes != tc.want.bytes || got.set != tc.want.set || got.source != tc.want.source ||
				got.container != tc.want.container || !errors.Is(got.reason, tc.want.reason) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestMemoryLimitReachesRuntime: --memory-limit and REMEDIATOR_MEMORY_LIMIT,
// parsed as serve parses them, become the runtime's memory limit, and the
// start-up line says so; so does a cgroup limit.
func TestMemoryLimitReachesRuntime(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		env    string            // REMEDIATOR_MEMORY_LIMIT
		gomem  string            // GOMEMLIMIT as the environment says it
		cgroup memlimit.Provider // nil: must not be read
		want   int64
		log    string
	}{
		{name: "flag", args: []string{"--memory-limit=200MiB"},
			want: 200 << 20, log: "source=flag limit=200MiB limit_bytes=209715200"},
		{name: "environment", env: "1GiB",
			want: 1 << 30, log: "source=flag limit=1GiB"},
		{name: "flag over GOMEMLIMIT", args: []string{"--memory-limit", "300MiB"}, gomem: "1GiB",
			want: 300 << 20, log: `source=flag limit=300MiB limit_bytes=314572800 overrides="GOMEMLIMIT=1GiB"`},
		{name: "cgroup", cgroup: cgroupSays(256<<20, nil),
			want: 187904819, log: "source=cgroup limit=179MiB204KiB819B limit_bytes=187904819 container_limit=256MiB"},
		{name: "none", cgroup: cgroupSays(0, memlimit.ErrNoLimit),
			want: math.MaxInt64, log: `source=none limit=none cgroup="memory is not limited"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("REMEDIATOR_MEMORY_LIMIT", tc.env)
			before := debug.SetMemoryLimit(-1)
			t.Cleanup(func() { debug.SetMemoryLimit(before) })
			// Something else than what each case wants, so that a limit left
			// unset is seen.
			debug.SetMemoryLimit(123 << 20)
			if tc.want == math.MaxInt64 {
				debug.SetMemoryLimit(math.MaxInt64)
			}

			app := kingpin.New("remediator", "")
			c := newServeCmd(app)
			if _, err := app.Parse(append([]string{"serve"}, tc.args...)); err != nil {
				t.Fatal(err)
			}
			cgroup := tc.cgroup
			if cgroup == nil {
				cgroup = cgroupUnread(t)
			}
			var logs bytes.Buffer
			applyMemoryLimit(slog.New(slog.NewTextHandler(&logs, nil)), int64(c.memoryLimit), tc.gomem, cgroup)
			if got := debug.SetMemoryLimit(-1); got != tc.want {
				t.Errorf("runtime memory limit %d, want %d", got, tc.want)
			}
			if !strings.Contains(logs.String(), `msg="Go memory limit" `+tc.log) {
				t.Errorf("start-up line %q does not say %q", logs.String(), tc.log)
			}
		})
	}
}

func TestMemoryLimitFlagErrors(t *testing.T) {
	for _, value := range []string{"12XB", "-1MiB", "230Mi", "lots"} {
		t.Run(value, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run([]string{"serve", "--memory-limit=" + value}, &stdout, &stderr); code != 2 {
				t.Fatalf("exit %d, want 2; stderr: %s", code, stderr.String())
			}
			if want := fmt.Sprintf("--memory-limit %q: want a size such as 230MiB", value); !strings.Contains(stderr.String(), want) {
				t.Fatalf("stderr %q does not say %q", stderr.String(), want)
			}
		})
	}
}

// TestServeMemoryLimit runs the binary: the limit the flag, the environment
// or the cgroup sets is the one the Go runtime reports on /metrics.
func TestServeMemoryLimit(t *testing.T) {
	bin := buildBinary(t)
	// What this machine's cgroup gives when nothing else is set.
	fromCgroup := chooseMemoryLimit(0, "", memlimit.FromCgroup)
	cgroupWant, cgroupSource := int64(math.MaxInt64), memLimitNone
	if fromCgroup.set {
		cgroupWant, cgroupSource = fromCgroup.bytes, memLimitFromCgroup
	}
	for _, tc := range []struct {
		name   string
		env    []string
		args   []string
		want   int64
		source string
	}{
		{name: "flag", args: []string{"--memory-limit=200MiB"}, want: 200 << 20, source: memLimitFromFlag},
		{name: "REMEDIATOR_MEMORY_LIMIT", env: []string{"REMEDIATOR_MEMORY_LIMIT=180MiB"}, want: 180 << 20, source: memLimitFromFlag},
		{name: "GOMEMLIMIT", env: []string{"GOMEMLIMIT=150MiB"}, want: 150 << 20, source: memLimitFromEnv},
		{name: "flag over GOMEMLIMIT", env: []string{"GOMEMLIMIT=150MiB"}, args: []string{"--memory-limit=200MiB"}, want: 200 << 20, source: memLimitFromFlag},
		{name: "cgroup or none", want: cgroupWant, source: cgroupSource},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The test's own environment must not decide.
			env := append([]string{"REMEDIATOR_AUTH_TOKEN=memlimit-token", "GOMEMLIMIT=", "REMEDIATOR_MEMORY_LIMIT="}, tc.env...)
			d := startDaemon(t, bin, env, append([]string{"--state=memory", "--audit=memory"}, tc.args...)...)
			code, body := d.do(t, http.MethodGet, "/metrics", nil)
			if code != http.StatusOK {
				t.Fatalf("/metrics: %d", code)
			}
			// A float64 holds these exactly, math.MaxInt64 as 2^63.
			if got := metricstest.Scraped(t, string(body), "go_gc_gomemlimit_bytes", nil); got != float64(tc.want) {
				t.Errorf("go_gc_gomemlimit_bytes %v, want %d", got, tc.want)
			}
			if want := fmt.Sprintf(`"msg":"Go memory limit","source":%q`, tc.source); !strings.Contains(d.log(), want) {
				t.Errorf("no start-up line %s:\n%s", want, d.log())
			}
		})
	}
}

// shippedLimits is what deploy/kubernetes/remediator.yaml gives the
// remediator container.
type shippedLimits struct {
	// flag is the --memory-limit argument as the manifest spells it.
	flag string
	// goLimit is its value in bytes.
	goLimit int64
	// container is resources.limits.memory in bytes.
	container int64
}

// readShippedLimits reads the remediator container's memory limit and its
// --memory-limit from the shipped manifest.
func readShippedLimits(t *testing.T) shippedLimits {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "deploy", "kubernetes", "remediator.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type container struct {
		Name      string
		Args      []string
		Resources struct{ Limits map[string]string }
	}
	dec := yaml.NewDecoder(f)
	for {
		var doc struct {
			Kind string
			Spec struct {
				Template struct {
					Spec struct{ Containers []container }
				}
			}
		}
		if err := dec.Decode(&doc); err != nil {
			t.Fatalf("no Deployment with a remediator container in the manifest: %v", err)
		}
		if doc.Kind != "Deployment" {
			continue
		}
		for _, c := range doc.Spec.Template.Spec.Containers {
			if c.Name != "remediator" {
				continue
			}
			var l shippedLimits
			q, err := resource.ParseQuantity(c.Resources.Limits["memory"])
			if err != nil {
				t.Fatalf("the container's memory limit %q: %v", c.Resources.Limits["memory"], err)
			}
			l.container = q.Value()
			for _, a := range c.Args {
				if v, ok := strings.CutPrefix(a, "--memory-limit="); ok {
					var m memorySize
					if err := m.Set(v); err != nil {
						t.Fatal(err)
					}
					l.flag, l.goLimit = a, int64(m)
				}
			}
			if l.flag == "" {
				t.Fatalf("the remediator container has no --memory-limit=SIZE argument: %q", c.Args)
			}
			return l
		}
	}
}

// TestShippedMemoryLimits: the manifest's Go memory limit leaves the
// container some headroom, and not so much that it is wasted: the same
// share serve takes of a cgroup limit by itself, give or take.
func TestShippedMemoryLimits(t *testing.T) {
	l := readShippedLimits(t)
	share := float64(l.goLimit) / float64(l.container)
	if share < 0.7 || share > 0.8 {
		t.Errorf("%s is %.1f%% of the container's memory limit (%d bytes), want 70-80%%", l.flag, 100*share, l.container)
	}
}
