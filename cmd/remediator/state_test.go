package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/remediator/remediator/internal/config"
)

func TestStateFlags(t *testing.T) {
	urlFile := filepath.Join(t.TempDir(), "url")
	if err := os.WriteFile(urlFile, []byte("redis://:pw@h:6379/0"), 0o600); err != nil {
		t.Fatal(err)
	}
	fromFile := config.State{RedisURLEnv: config.EnvStateRedisURL, Prefix: "p:"}
	for _, tc := range []struct {
		name       string
		state, url string
		in         config.State
		want       config.State
		wantErr    string
	}{
		{name: "no flags keep the config", in: fromFile, want: fromFile},
		{name: "memory", state: "memory", in: fromFile, want: config.State{}},
		{name: "redis without password", state: "redis://redis:6379/2", in: fromFile,
			want: config.State{RedisURL: "redis://redis:6379/2", Prefix: "p:"}},
		{name: "rediss without password", state: "rediss://redis:6380/0", want: config.State{RedisURL: "rediss://redis:6380/0"}},
		{name: "redis with password refused", state: "redis://:s3cret@redis:6379/0", wantErr: "must not be on the command line"},
		{name: "redis with user and password refused", state: "redis://app:s3cret@redis:6379/0", wantErr: "REMEDIATOR_STATE_REDIS_URL"},
		{name: "url file", url: urlFile, in: fromFile, want: config.State{RedisURLFile: urlFile, Prefix: "p:"}},
		{name: "both", state: "memory", url: urlFile, wantErr: "alternatives"},
		{name: "unknown", state: "etcd://x", wantErr: "want memory or redis://"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &serveCmd{state: tc.state, stateURLFile: tc.url}
			s := tc.in
			err := c.applyStateFlags(&s)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s != tc.want {
				t.Errorf("state = %+v, want %+v", s, tc.want)
			}
		})
	}
}
