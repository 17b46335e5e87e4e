package main

import (
	"fmt"
	"log/slog"
	"math"
	"runtime/debug"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/alecthomas/units"
)

// cgroupMemoryRatio is the share of the container's memory limit that becomes
// the Go memory limit when nothing else sets one. The rest is headroom for
// what the Go limit cannot stop in time (the heap allocated while a
// collection runs under a burst) and for what the container is charged beyond
// the Go runtime's memory (the binary's mapped pages, SQLite's own
// allocations and the page cache of the audit database: about 40 MiB under
// cmd/remediator's hostile-sender test).
const cgroupMemoryRatio = 0.7

// Sources of the Go memory limit, as the start-up log names them.
const (
	memLimitFromFlag   = "flag"
	memLimitFromEnv    = "GOMEMLIMIT"
	memLimitFromCgroup = "cgroup"
	memLimitNone       = "none"
)

// memoryLimit is the Go memory limit serve chose and why.
type memoryLimit struct {
	// bytes is the limit to set; meaningful only when set is true.
	bytes int64
	// set is true when serve must call debug.SetMemoryLimit: for GOMEMLIMIT
	// the runtime applied it at start-up, and "none" leaves the default.
	set    bool
	source string
	// container is the cgroup's memory limit the cgroup limit derives from.
	container uint64
	// reason says why no cgroup limit applies (not in a cgroup, unlimited),
	// for the log; nil otherwise.
	reason error
}

// chooseMemoryLimit picks the Go memory limit: the flag (or
// REMEDIATOR_MEMORY_LIMIT) if given, else GOMEMLIMIT if set (the runtime has
// applied it already), else cgroupMemoryRatio of what cgroup reports. cgroup
// is memlimit.FromCgroup in production, which reads /proc/self/cgroup and the
// memory controller's memory.max (v2) or memory.limit_in_bytes (v1). It is
// called only when needed, so a flag or GOMEMLIMIT never depends on the
// cgroup files being readable.
func chooseMemoryLimit(flag int64, goMemLimit string, cgroup memlimit.Provider) memoryLimit {
	if flag > 0 {
		return memoryLimit{bytes: flag, set: true, source: memLimitFromFlag}
	}
	if goMemLimit != "" {
		return memoryLimit{source: memLimitFromEnv}
	}
	container, err := cgroup()
	switch {
	case err != nil:
		return memoryLimit{source: memLimitNone, reason: err}
	case container == 0:
		return memoryLimit{source: memLimitNone, reason: memlimit.ErrNoLimit}
	}
	limit := float64(container) * cgroupMemoryRatio
	if limit >= math.MaxInt64 {
		// cgroup v1 reports "unlimited" as a page-rounded MaxInt64, which the
		// library maps to ErrNoLimit; anything else this large is as good.
		return memoryLimit{source: memLimitNone, reason: memlimit.ErrNoLimit}
	}
	return memoryLimit{bytes: int64(limit), set: true, source: memLimitFromCgroup, container: container}
}

// memorySize is the value of --memory-limit: a size with a unit, parsed as
// kingpin's Bytes flags are, with an error that names the flag (kingpin's
// does not).
type memorySize int64

// Set implements kingpin.Value.
func (m *memorySize) Set(s string) error {
	n, err := units.ParseBase2Bytes(s)
	if err != nil || n < 0 {
		return fmt.Errorf("--memory-limit %q: want a size such as 230MiB (units B, KiB, MiB, GiB)", s)
	}
	*m = memorySize(n)
	return nil
}

// String implements kingpin.Value.
func (m *memorySize) String() string { return units.Base2Bytes(*m).String() }

// applyMemoryLimit sets the Go memory limit chosen from flag, GOMEMLIMIT and
// cgroup, and logs the limit in force and where it came from. Near the limit
// the collector runs more often, so the heap stays under it however GOGC is
// set; without it, a GOGC of 400 lets the heap grow to five times the live
// heap, which under a burst of large alerts is more than a container has.
func applyMemoryLimit(log *slog.Logger, flag int64, goMemLimit string, cgroup memlimit.Provider) {
	l := chooseMemoryLimit(flag, goMemLimit, cgroup)
	if l.set {
		debug.SetMemoryLimit(l.bytes)
	}
	// What the runtime reports, not what was chosen: for GOMEMLIMIT that is
	// the only place the parsed value lives.
	inForce := debug.SetMemoryLimit(-1)
	attrs := []any{slog.String("source", l.source)}
	if inForce == math.MaxInt64 {
		attrs = append(attrs, slog.String("limit", "none"))
	} else {
		attrs = append(attrs, slog.String("limit", units.Base2Bytes(inForce).String()), slog.Int64("limit_bytes", inForce))
	}
	if l.container > 0 {
		attrs = append(attrs, slog.String("container_limit", units.Base2Bytes(l.container).String()))
	}
	if l.reason != nil {
		attrs = append(attrs, slog.String("cgroup", l.reason.Error()))
	}
	if goMemLimit != "" && l.source == memLimitFromFlag {
		attrs = append(attrs, slog.String("overrides", "GOMEMLIMIT="+goMemLimit))
	}
	log.Info("Go memory limit", attrs...)
}
