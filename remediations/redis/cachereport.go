package redis

import (
	"bufio"
	"context"
	"net"
	"strconv"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

// CacheReportEvidence is what redis.cache_report collects. Counters are
// cumulative since the server started (or since CONFIG RESETSTAT).
type CacheReportEvidence struct {
	Connection string `json:"connection"`
	// Addr is host:port/db; it never holds credentials.
	Addr string `json:"addr"`

	// From INFO stats.
	KeyspaceHits   int64 `json:"keyspace_hits"`
	KeyspaceMisses int64 `json:"keyspace_misses"`
	// HitRate is hits / (hits + misses), in [0, 1]; null before any lookup,
	// when there is no rate to speak of.
	HitRate     *float64 `json:"hit_rate"`
	EvictedKeys int64    `json:"evicted_keys"`
	ExpiredKeys int64    `json:"expired_keys"`

	// From INFO memory.
	UsedMemoryBytes    int64 `json:"used_memory_bytes"`
	UsedMemoryRSSBytes int64 `json:"used_memory_rss_bytes"`
	// MaxMemoryBytes is 0 when Redis has no memory limit.
	MaxMemoryBytes int64 `json:"maxmemory_bytes"`
	// MemoryUsage is used_memory / maxmemory; null when there is no limit.
	MemoryUsage        *float64 `json:"memory_usage"`
	MaxMemoryPolicy    string   `json:"maxmemory_policy"`
	FragmentationRatio float64  `json:"mem_fragmentation_ratio"`

	// From INFO replication. Role is "master" or "slave", as Redis says it.
	Role              string        `json:"role"`
	ConnectedReplicas int64         `json:"connected_replicas"`
	Replicas          []ReplicaInfo `json:"replicas,omitempty"`
	// Master is set on a replica.
	Master *MasterLink `json:"master,omitempty"`
	// ReplicationLagSeconds is, on a master, the largest lag of its replicas
	// and, on a replica, the seconds since it last heard from its master;
	// null when there is no replication (or the link is down, see Master).
	ReplicationLagSeconds *int64 `json:"replication_lag_seconds"`

	// Missing lists INFO fields that were absent or unreadable, so a zero
	// above is not mistaken for a measurement (managed services hide some).
	Missing []string `json:"missing,omitempty"`
}

// ReplicaInfo is one replica as its master sees it.
type ReplicaInfo struct {
	Addr   string `json:"addr"`
	State  string `json:"state"`
	Offset int64  `json:"offset"`
	// LagBytes is the master's replication offset minus the replica's.
	LagBytes int64 `json:"lag_bytes"`
	// LagSeconds is the time since the replica last acknowledged.
	LagSeconds int64 `json:"lag_seconds"`
}

// MasterLink is a replica's view of its master.
type MasterLink struct {
	Addr             string `json:"addr"`
	LinkStatus       string `json:"link_status"`
	LastIOSecondsAgo int64  `json:"last_io_seconds_ago"`
	SyncInProgress   bool   `json:"sync_in_progress"`
	// LinkDownSinceSeconds is set while the link is down.
	LinkDownSinceSeconds int64 `json:"link_down_since_seconds,omitempty"`
}

// cacheReport reads the three INFO sections in one round trip, under one
// call deadline.
func (c *conn) cacheReport(ctx context.Context) (*CacheReportEvidence, error) {
	sections := []string{"stats", "memory", "replication"}
	texts, err := call(ctx, c, func(ctx context.Context) ([]string, error) {
		cmds := make([]*goredis.StringCmd, len(sections))
		_, err := c.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for i, s := range sections {
				cmds[i] = p.Info(ctx, s)
			}
			return nil
		})
		texts := make([]string, len(cmds))
		for i, cmd := range cmds {
			texts[i] = cmd.Val()
		}
		return texts, err
	})
	if err != nil {
		return nil, c.callErr(ctx, "INFO stats, memory, replication", err)
	}
	in := info{}
	for _, text := range texts {
		in.parse(text)
	}
	ev := in.evidence()
	ev.Connection, ev.Addr = c.name, c.addr
	return ev, nil
}

// info is the key:value lines of INFO output.
type info map[string]string

func (in info) parse(text string) {
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			in[k] = v
		}
	}
}

// fields reads typed values and remembers which were missing.
type fields struct {
	in      info
	missing []string
}

func (f *fields) str(k string) string {
	v, ok := f.in[k]
	if !ok {
		f.missing = append(f.missing, k)
	}
	return v
}

func (f *fields) int(k string) int64 {
	v, ok := f.in[k]
	if !ok {
		f.missing = append(f.missing, k)
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		f.missing = append(f.missing, k)
	}
	return n
}

func (f *fields) float(k string) float64 {
	v, ok := f.in[k]
	if !ok {
		f.missing = append(f.missing, k)
		return 0
	}
	n, err := strconv.ParseFloat(v, 64)
	if err != nil {
		f.missing = append(f.missing, k)
	}
	return n
}

func (in info) evidence() *CacheReportEvidence {
	f := &fields{in: in}
	ev := &CacheReportEvidence{
		KeyspaceHits:       f.int("keyspace_hits"),
		KeyspaceMisses:     f.int("keyspace_misses"),
		EvictedKeys:        f.int("evicted_keys"),
		ExpiredKeys:        f.int("expired_keys"),
		UsedMemoryBytes:    f.int("used_memory"),
		UsedMemoryRSSBytes: f.int("used_memory_rss"),
		MaxMemoryBytes:     f.int("maxmemory"),
		MaxMemoryPolicy:    f.str("maxmemory_policy"),
		FragmentationRatio: f.float("mem_fragmentation_ratio"),
		Role:               f.str("role"),
		ConnectedReplicas:  f.int("connected_slaves"),
	}
	if lookups := ev.KeyspaceHits + ev.KeyspaceMisses; lookups > 0 {
		r := float64(ev.KeyspaceHits) / float64(lookups)
		ev.HitRate = &r
	}
	if ev.MaxMemoryBytes > 0 {
		u := float64(ev.UsedMemoryBytes) / float64(ev.MaxMemoryBytes)
		ev.MemoryUsage = &u
	}
	switch ev.Role {
	case "master":
		masterOffset := f.int("master_repl_offset")
		for i := range ev.ConnectedReplicas {
			r, ok := parseReplica(in["slave"+strconv.FormatInt(i, 10)])
			if !ok {
				f.missing = append(f.missing, "slave"+strconv.FormatInt(i, 10))
				continue
			}
			r.LagBytes = max(masterOffset-r.Offset, 0)
			ev.Replicas = append(ev.Replicas, r)
			if ev.ReplicationLagSeconds == nil || r.LagSeconds > *ev.ReplicationLagSeconds {
				lag := r.LagSeconds
				ev.ReplicationLagSeconds = &lag
			}
		}
	case "slave":
		m := &MasterLink{
			Addr:           net.JoinHostPort(f.str("master_host"), f.str("master_port")),
			LinkStatus:     f.str("master_link_status"),
			SyncInProgress: f.int("master_sync_in_progress") == 1,
		}
		if m.LinkStatus == "up" {
			m.LastIOSecondsAgo = f.int("master_last_io_seconds_ago")
			lag := m.LastIOSecondsAgo
			ev.ReplicationLagSeconds = &lag
		} else {
			// Redis reports last_io -1 and link_down_since_seconds while
			// the link is down; a lag number would then be a lie.
			m.LastIOSecondsAgo = -1
			m.LinkDownSinceSeconds = f.int("master_link_down_since_seconds")
		}
		ev.Master = m
	}
	ev.Missing = f.missing
	return ev
}

// parseReplica reads a master's "slaveN" line:
// ip=10.0.0.2,port=6379,state=online,offset=1234,lag=0
func parseReplica(line string) (ReplicaInfo, bool) {
	kv := map[string]string{}
	for part := range strings.SplitSeq(line, ",") {
		if k, v, ok := strings.Cut(part, "="); ok {
			kv[k] = v
		}
	}
	if kv["ip"] == "" || kv["port"] == "" {
		return ReplicaInfo{}, false
	}
	r := ReplicaInfo{Addr: net.JoinHostPort(kv["ip"], kv["port"]), State: kv["state"]}
	r.Offset, _ = strconv.ParseInt(kv["offset"], 10, 64)
	r.LagSeconds, _ = strconv.ParseInt(kv["lag"], 10, 64)
	return r, true
}
