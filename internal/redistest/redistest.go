// Package redistest names the real Redis that tests use and gives each test
// its own key prefix. Tests fail, never skip, when that Redis is
// unreachable: `make services` (and .ci/run) start it.
package redistest

import (
	"crypto/rand"
	"os"
	"strings"
)

// Addr is host:port of the test Redis: $REMEDIATOR_TEST_REDIS_ADDR, else
// 127.0.0.1:6379.
func Addr() string {
	if a := os.Getenv("REMEDIATOR_TEST_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// URL is the redis:// URL of database 0 of the test Redis.
func URL() string { return "redis://" + Addr() + "/0" }

// Prefix is a fresh key prefix, so that tests sharing the Redis never see
// each other's keys.
func Prefix() string {
	return "remediator-test:" + strings.ToLower(rand.Text()[:12]) + ":"
}
