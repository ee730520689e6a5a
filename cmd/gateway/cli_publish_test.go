package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgeapi/gateway/handler/event"
	"github.com/edgeapi/gateway/natsserver"
)

// TestCLIPublish publishes through a real embedded NATS server and reads the events back with
// a JetStream consumer: subject, CloudEvents headers in the event handler's layout, data, and
// the receipt printed on stdout.
func TestCLIPublish(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ns, err := natsserver.Start(ctx, natsserver.Config{Port: -1, StoreDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	// A duplicate window of the operator's own: publishing must not reset it to the default.
	f := newCLIFixture(t, fmt.Sprintf("nats:\n  url: %s\nevents:\n  source: /cli-test\n  duplicate_window: 45s\n", ns.ClientURL()))
	dataFile := filepath.Join(f.dir, "event.json")
	if err := os.WriteFile(dataFile, []byte(`{"from":"file"}`), 0o600); err != nil {
		t.Fatal(err)
	}

	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name        string
		topic       string
		stdin       string
		args        []string
		id, typ, ct string
		data        string
		duplicate   bool
	}{
		{"argument with type and id", "user", "", []string{"publish", "--type", "user.created", "--id", "evt-1", "user", `{"name":"john"}`},
			"evt-1", "user.created", "application/json", `{"name":"john"}`, false},
		{"stdin, defaults", "user", `{"from":"stdin"}`, []string{"publish", "user"},
			"", "user", "application/json", `{"from":"stdin"}`, false},
		{"@file with flags last", "orders", "", []string{"publish", "orders", "@" + dataFile, "--id", "evt-2"},
			"evt-2", "orders", "application/json", `{"from":"file"}`, false},
		{"plain text", "notes", "hello", []string{"publish", "--content-type", "text/plain", "notes", "-"},
			"", "notes", "text/plain", "hello", false},
		{"same id again", "user", "", []string{"publish", "--id", "evt-1", "user", `{"name":"john"}`},
			"evt-1", "user", "application/json", `{"name":"john"}`, true},
	}
	var seq uint64
	for _, tc := range cases {
		r := f.run(t, tc.stdin, tc.args...)
		if r.code != 0 {
			t.Fatalf("%s: %s", tc.name, r)
		}
		var got event.Accepted
		if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
			t.Fatalf("%s: %v\n%s", tc.name, err, r)
		}
		if got.Stream != "GATEWAY_EVENTS" || got.Subject != "go.micro.api."+tc.topic || got.Duplicate != tc.duplicate ||
			(tc.id != "" && got.ID != tc.id) || got.ID == "" {
			t.Errorf("%s: receipt %+v", tc.name, got)
		}
		if tc.duplicate {
			continue
		}
		seq++
		if got.Sequence != seq {
			t.Errorf("%s: sequence %d, want %d", tc.name, got.Sequence, seq)
		}

		cons, err := js.OrderedConsumer(ctx, "GATEWAY_EVENTS", jetstream.OrderedConsumerConfig{
			DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: got.Sequence,
		})
		if err != nil {
			t.Fatal(err)
		}
		msg, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatalf("%s: reading the event back: %v", tc.name, err)
		}
		h := msg.Headers()
		want := map[string]string{
			"ce-specversion": "1.0",
			"ce-id":          got.ID,
			"ce-type":        tc.typ,
			"ce-source":      "/cli-test",
			"content-type":   tc.ct,
			// Only an id the caller chose deduplicates (--id); a minted one is not held.
			"Nats-Msg-Id": tc.id,
		}
		for k, v := range want {
			if h.Get(k) != v {
				t.Errorf("%s: header %s = %q, want %q (all: %v)", tc.name, k, h.Get(k), v, h)
			}
		}
		if ts, err := time.Parse(time.RFC3339Nano, h.Get("ce-time")); err != nil || time.Since(ts) > time.Minute {
			t.Errorf("%s: ce-time %q: %v", tc.name, h.Get("ce-time"), err)
		}
		if msg.Subject() != got.Subject || string(msg.Data()) != tc.data {
			t.Errorf("%s: event on %s with data %q, want %s and %q", tc.name, msg.Subject(), msg.Data(), got.Subject, tc.data)
		}
	}

	st, err := js.Stream(ctx, "GATEWAY_EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	if d := st.CachedInfo().Config.Duplicates; d != 45*time.Second {
		t.Errorf("stream duplicate window %v after gateway publish, want the configured 45s", d)
	}

	// The gateway's event handler publishes the same layout into the same stream.
	gw := startGateway(t, f.yaml+"handler: event\n")
	res := gw.post(t, "/user/created", `{"via":"gateway"}`, "Ce-Id", "evt-gw")
	if res.code != 202 {
		t.Fatalf("gateway event: %s", res)
	}
	r := f.run(t, "", "publish", "--id", "evt-gw", "--type", "user.created", "user", `{"via":"gateway"}`)
	var dup event.Accepted
	if err := json.Unmarshal([]byte(r.stdout), &dup); err != nil || r.code != 0 || !dup.Duplicate {
		t.Errorf("the CLI's event with the gateway's id should be a duplicate: %v\n%s", err, r)
	}
}
