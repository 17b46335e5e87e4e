// Package redis declares the Redis investigations and resolutions: their
// parameters, validation and plans. The go-redis executor that runs them lives
// beside these declarations.
package redis

import (
	"errors"
	"fmt"
	"strings"

	"github.com/remediator/remediator/remediations"
)

// KindRedis is the target kind of a Redis instance.
const KindRedis = "Redis"

// Actions returns every Redis action.
func Actions() []remediations.Action {
	return []remediations.Action{CacheReport, DeleteKeys}
}

// CacheReport reads hit rate, memory and replication from INFO.
var CacheReport = remediations.Define(remediations.Spec{
	Name:        "redis.cache_report",
	Description: "Hit rate (INFO stats), memory use and fragmentation (INFO memory), replication state and lag (INFO replication).",
	Kind:        remediations.Investigation,
	TargetKinds: []string{KindRedis},
	Example:     remediations.Params{},
}, func(remediations.Target, *remediations.NoParams) ([]string, error) {
	return []string{"INFO stats", "INFO memory", "INFO replication"}, nil
})

// DeleteKeysParams are the parameters of redis.delete_keys.
type DeleteKeysParams struct {
	Pattern   string `json:"pattern" doc:"SCAN MATCH pattern, e.g. expired:*"`
	MaxKeys   int64  `json:"max_keys,omitempty" doc:"delete at most this many keys per run (policy caps it)"`
	BatchSize int64  `json:"batch_size,omitempty" doc:"keys per SCAN COUNT and UNLINK (default 500)"`
	PauseMS   int64  `json:"pause_ms,omitempty" doc:"pause between batches in milliseconds (default 0)"`
}

// Validate implements remediations.Validator.
func (p *DeleteKeysParams) Validate() error {
	if strings.Trim(p.Pattern, "*") == "" {
		return fmt.Errorf("pattern %q would match every key; name a prefix", p.Pattern)
	}
	if p.MaxKeys < 0 || p.BatchSize < 0 || p.PauseMS < 0 {
		return errors.New("max_keys, batch_size and pause_ms must not be negative")
	}
	return nil
}

// DeleteKeys removes keys matching a pattern in bounded batches.
var DeleteKeys = remediations.Define(remediations.Spec{
	Name:        "redis.delete_keys",
	Description: "SCAN for keys matching a pattern and UNLINK them in batches, capped per run; never KEYS, never FLUSH.",
	Kind:        remediations.Resolution,
	TargetKinds: []string{KindRedis},
	Example:     remediations.Params{"pattern": "expired:*", "max_keys": 10000},
}, func(_ remediations.Target, p *DeleteKeysParams) ([]string, error) {
	batch := p.BatchSize
	if batch == 0 {
		batch = 500
	}
	max := "no cap"
	if p.MaxKeys > 0 {
		max = fmt.Sprintf("at most %d keys", p.MaxKeys)
	}
	return []string{
		fmt.Sprintf("SCAN cursor MATCH %q COUNT %d", p.Pattern, batch),
		fmt.Sprintf("UNLINK in batches of %d, pause %dms between batches, %s", batch, p.PauseMS, max),
	}, nil
})
