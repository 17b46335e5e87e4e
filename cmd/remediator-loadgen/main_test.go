package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"

	"github.com/remediator/remediator/internal/config"
	"github.com/remediator/remediator/internal/daemon"
	"github.com/remediator/remediator/internal/httpauth"
	"github.com/remediator/remediator/receiver"
	"github.com/remediator/remediator/remediations/builtin"
)

func TestPayloadDecodes(t *testing.T) {
	for _, dup := range []int{1, 5} {
		msg, rejected, err := receiver.Decode(bytes.NewReader(payload(3, dup, 10)), receiver.DefaultLimits())
		if err != nil || len(rejected) > 0 {
			t.Fatalf("loadgen payload does not pass the receiver's validation: %v %+v", err, rejected)
		}
		if len(msg.Data.Alerts.Firing()) != dup {
			t.Fatalf("alerts = %d, want %d", len(msg.Data.Alerts), dup)
		}
	}
}

func TestRefusesRemoteURL(t *testing.T) {
	var out bytes.Buffer
	err := run([]string{"--url", "http://192.0.2.1:9095/api/v1/alerts", "--requests", "1"}, &out)
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Fatalf("err = %v", err)
	}
}

// TestAgainstDaemon runs a short load against a real daemon and checks the
// report counts every request as accepted.
func TestAgainstDaemon(t *testing.T) {
	catalog, _ := builtin.Catalog()
	cfg, err := config.Load("", catalog)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Receiver.QueueSize = 10000
	d, err := daemon.New(context.Background(), cfg, daemon.Options{Auth: mustToken(t)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()

	t.Setenv("REMEDIATOR_AUTH_TOKEN", "lg")
	var out bytes.Buffer
	if err := run([]string{"--url", "http://" + ln.Addr().String() + "/api/v1/alerts", "--requests", "200", "--concurrency", "4", "--duplicate-every", "10"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "status 200: 200\n") {
		t.Fatalf("report:\n%s", out.String())
	}
}

func mustToken(t *testing.T) *httpauth.Authenticator {
	c, err := httpauth.BearerToken("lg")
	if err != nil {
		t.Fatal(err)
	}
	a, err := httpauth.New(map[httpauth.Role]httpauth.Credential{httpauth.Alerts: c})
	if err != nil {
		t.Fatal(err)
	}
	return a
}
