package nats

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/edgeapi/gateway/broker"
)

func TestParseAck(t *testing.T) {
	name, _ := json.Marshal("GATEWAY_EVENTS")
	p := &Publisher{cfg: Config{Stream: "GATEWAY_EVENTS"}, ackHead: append(append([]byte(`{"stream":`), name...), `,"seq":`...)}
	cases := []struct {
		name, data string
		want       broker.Ack
		wantErr    error // besides broker.ErrUnavailable
		apiErr     bool  // a *jetstream.APIError instead
	}{
		{name: "server template", data: `{"stream":"GATEWAY_EVENTS","seq":42}`, want: broker.Ack{Stream: "GATEWAY_EVENTS", Sequence: 42}},
		{name: "duplicate as the server writes it", data: `{"stream":"GATEWAY_EVENTS","seq":7,"duplicate": true}`, want: broker.Ack{Stream: "GATEWAY_EVENTS", Sequence: 7, Duplicate: true}},
		{name: "duplicate without the space", data: `{"stream":"GATEWAY_EVENTS","seq":7,"duplicate":true}`, want: broker.Ack{Stream: "GATEWAY_EVENTS", Sequence: 7, Duplicate: true}},
		{name: "largest sequence", data: `{"stream":"GATEWAY_EVENTS","seq":18446744073709551615}`, want: broker.Ack{Stream: "GATEWAY_EVENTS", Sequence: 18446744073709551615}},
		{name: "with a domain", data: `{"stream":"GATEWAY_EVENTS","domain":"hub","seq":3}`, want: broker.Ack{Stream: "GATEWAY_EVENTS", Sequence: 3}},
		{name: "other layout", data: `{ "seq": 5, "stream": "GATEWAY_EVENTS", "duplicate": false }`, want: broker.Ack{Stream: "GATEWAY_EVENTS", Sequence: 5}},
		{name: "another stream", data: `{"stream":"OTHER","seq":9}`, want: broker.Ack{Stream: "OTHER", Sequence: 9}},
		{name: "a name the stream's is a prefix of", data: `{"stream":"GATEWAY_EVENTS_2","seq":9}`, want: broker.Ack{Stream: "GATEWAY_EVENTS_2", Sequence: 9}},
		{name: "another field", data: `{"stream":"GATEWAY_EVENTS","seq":9,"val":"x"}`, want: broker.Ack{Stream: "GATEWAY_EVENTS", Sequence: 9}},
		{name: "batch duplicate", data: `{"stream":"GATEWAY_EVENTS","seq":9,"duplicate": true,"batch":"b","count":2}`, want: broker.Ack{Stream: "GATEWAY_EVENTS", Sequence: 9, Duplicate: true}},
		{name: "JetStream error", data: `{"error":{"code":400,"err_code":10060,"description":"expected stream does not match"}}`, apiErr: true},
		{name: "no stream", data: `{"seq":1}`, wantErr: jetstream.ErrInvalidJSAck},
		{name: "not JSON", data: `+OK`, wantErr: jetstream.ErrInvalidJSAck},
		{name: "truncated template", data: `{"stream":"GATEWAY_EVENTS","seq":`, wantErr: jetstream.ErrInvalidJSAck},
		{name: "sequence overflows", data: `{"stream":"GATEWAY_EVENTS","seq":184467440737095516150}`, wantErr: jetstream.ErrInvalidJSAck},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ack, err := p.parseAck([]byte(tc.data))
			var apiErr *jetstream.APIError
			switch {
			case tc.apiErr:
				if !errors.Is(err, broker.ErrUnavailable) || !errors.As(err, &apiErr) {
					t.Fatalf("parseAck(%s) = %+v, %v; want ErrUnavailable with the JetStream error", tc.data, ack, err)
				}
				return
			case tc.wantErr != nil:
				if !errors.Is(err, broker.ErrUnavailable) || !errors.Is(err, tc.wantErr) {
					t.Fatalf("parseAck(%s) = %+v, %v; want ErrUnavailable and %v", tc.data, ack, err, tc.wantErr)
				}
				return
			}
			if err != nil || ack != tc.want {
				t.Fatalf("parseAck(%s) = %+v, %v; want %+v", tc.data, ack, err, tc.want)
			}
		})
	}
}

func TestParseAckTemplateDoesNotAllocate(t *testing.T) {
	p := &Publisher{cfg: Config{Stream: "S"}, ackHead: []byte(`{"stream":"S","seq":`)}
	data := []byte(`{"stream":"S","seq":123456,"duplicate": true}`)
	if n := testing.AllocsPerRun(100, func() { _, _ = p.parseAck(data) }); n != 0 {
		t.Fatalf("parseAck of the server's template allocates %v times", n)
	}
}

// FuzzParseAck: whatever the server answers, parseAck does not panic, and what its template
// reader accepts encoding/json reads the same way.
func FuzzParseAck(f *testing.F) {
	name, _ := json.Marshal("GATEWAY_EVENTS")
	p := &Publisher{cfg: Config{Stream: "GATEWAY_EVENTS"}, ackHead: append(append([]byte(`{"stream":`), name...), `,"seq":`...)}
	for _, s := range []string{
		`{"stream":"GATEWAY_EVENTS","seq":42}`,
		`{"stream":"GATEWAY_EVENTS","seq":7,"duplicate": true}`,
		`{"stream":"GATEWAY_EVENTS","seq":18446744073709551615}`,
		`{"error":{"code":503,"description":"x"}}`,
		`{"stream":"GATEWAY_EVENTS","seq":}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ack, err := p.parseAck(data)
		if err != nil {
			if !errors.Is(err, broker.ErrUnavailable) {
				t.Fatalf("parseAck(%q): %v does not wrap ErrUnavailable", data, err)
			}
			return
		}
		var want struct {
			Stream    string `json:"stream"`
			Sequence  uint64 `json:"seq"`
			Duplicate bool   `json:"duplicate"`
		}
		if jerr := json.Unmarshal(data, &want); jerr != nil {
			t.Fatalf("parseAck(%q) = %+v, but encoding/json refuses it: %v", data, ack, jerr)
		}
		if ack != (broker.Ack{Stream: want.Stream, Sequence: want.Sequence, Duplicate: want.Duplicate}) {
			t.Fatalf("parseAck(%q) = %+v, encoding/json reads %+v", data, ack, want)
		}
	})
}
