package redis

import (
	"encoding/json"
	"testing"
)

// INFO output as Redis 7 prints it, for the roles the test server cannot
// take: a master with replicas and a replica with its link up or down.
const (
	statsMemory = "# Stats\r\nkeyspace_hits:75\r\nkeyspace_misses:25\r\nevicted_keys:3\r\nexpired_keys:9\r\n" +
		"# Memory\r\nused_memory:1048576\r\nused_memory_rss:2097152\r\nmaxmemory:4194304\r\nmaxmemory_policy:allkeys-lru\r\nmem_fragmentation_ratio:2.00\r\n"
	masterWithReplicas = "# Replication\r\nrole:master\r\nconnected_slaves:2\r\n" +
		"slave0:ip=10.0.0.2,port=6379,state=online,offset=1000,lag=0\r\n" +
		"slave1:ip=fd00::3,port=6380,state=wait_bgsave,offset=400,lag=7\r\n" +
		"master_failover_state:no-failover\r\nmaster_repl_offset:1200\r\n"
	replicaUp = "# Replication\r\nrole:slave\r\nmaster_host:10.0.0.1\r\nmaster_port:6379\r\nmaster_link_status:up\r\n" +
		"master_last_io_seconds_ago:4\r\nmaster_sync_in_progress:0\r\nslave_repl_offset:1200\r\nconnected_slaves:0\r\nmaster_repl_offset:1200\r\n"
	replicaDown = "# Replication\r\nrole:slave\r\nmaster_host:10.0.0.1\r\nmaster_port:6379\r\nmaster_link_status:down\r\n" +
		"master_last_io_seconds_ago:-1\r\nmaster_sync_in_progress:1\r\nmaster_link_down_since_seconds:42\r\nconnected_slaves:0\r\nmaster_repl_offset:0\r\n"
)

func TestInfoEvidence(t *testing.T) {
	for _, tc := range []struct {
		name     string
		sections []string
		want     string // JSON of the evidence
	}{
		{"master with replicas", []string{statsMemory, masterWithReplicas},
			`{"connection":"","addr":"","keyspace_hits":75,"keyspace_misses":25,"hit_rate":0.75,"evicted_keys":3,"expired_keys":9,` +
				`"used_memory_bytes":1048576,"used_memory_rss_bytes":2097152,"maxmemory_bytes":4194304,"memory_usage":0.25,"maxmemory_policy":"allkeys-lru","mem_fragmentation_ratio":2,` +
				`"role":"master","connected_replicas":2,"replicas":[` +
				`{"addr":"10.0.0.2:6379","state":"online","offset":1000,"lag_bytes":200,"lag_seconds":0},` +
				`{"addr":"[fd00::3]:6380","state":"wait_bgsave","offset":400,"lag_bytes":800,"lag_seconds":7}],` +
				`"replication_lag_seconds":7}`},
		{"replica, link up", []string{statsMemory, replicaUp},
			`{"connection":"","addr":"","keyspace_hits":75,"keyspace_misses":25,"hit_rate":0.75,"evicted_keys":3,"expired_keys":9,` +
				`"used_memory_bytes":1048576,"used_memory_rss_bytes":2097152,"maxmemory_bytes":4194304,"memory_usage":0.25,"maxmemory_policy":"allkeys-lru","mem_fragmentation_ratio":2,` +
				`"role":"slave","connected_replicas":0,` +
				`"master":{"addr":"10.0.0.1:6379","link_status":"up","last_io_seconds_ago":4,"sync_in_progress":false},` +
				`"replication_lag_seconds":4}`},
		{"replica, link down", []string{statsMemory, replicaDown},
			`{"connection":"","addr":"","keyspace_hits":75,"keyspace_misses":25,"hit_rate":0.75,"evicted_keys":3,"expired_keys":9,` +
				`"used_memory_bytes":1048576,"used_memory_rss_bytes":2097152,"maxmemory_bytes":4194304,"memory_usage":0.25,"maxmemory_policy":"allkeys-lru","mem_fragmentation_ratio":2,` +
				`"role":"slave","connected_replicas":0,` +
				`"master":{"addr":"10.0.0.1:6379","link_status":"down","last_io_seconds_ago":-1,"sync_in_progress":true,"link_down_since_seconds":42},` +
				`"replication_lag_seconds":null}`},
		{"fields hidden (managed service), no lookups yet", []string{"# Stats\nkeyspace_hits:0\nkeyspace_misses:0\n# Memory\nused_memory:100\nmem_fragmentation_ratio:n/a\n# Replication\nrole:master\nconnected_slaves:1\nslave0:garbage\n"},
			`{"connection":"","addr":"","keyspace_hits":0,"keyspace_misses":0,"hit_rate":null,"evicted_keys":0,"expired_keys":0,` +
				`"used_memory_bytes":100,"used_memory_rss_bytes":0,"maxmemory_bytes":0,"memory_usage":null,"maxmemory_policy":"","mem_fragmentation_ratio":0,` +
				`"role":"master","connected_replicas":1,"replication_lag_seconds":null,` +
				`"missing":["evicted_keys","expired_keys","used_memory_rss","maxmemory","maxmemory_policy","mem_fragmentation_ratio","master_repl_offset","slave0"]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := info{}
			for _, s := range tc.sections {
				in.parse(s)
			}
			b, err := json.Marshal(in.evidence())
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.want {
				t.Errorf("evidence:\n  %s\nwant:\n  %s", b, tc.want)
			}
		})
	}
}
