package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadBody(t *testing.T) {
	const limit = 8
	boom := errors.New("connection reset")
	cases := []struct {
		name    string
		body    io.Reader
		length  int64 // as http.Request.ContentLength: -1 unknown
		want    string
		wantErr error
	}{
		{name: "announced length", body: strings.NewReader("12345"), length: 5, want: "12345"},
		{name: "announced, at the limit", body: strings.NewReader("12345678"), length: 8, want: "12345678"},
		{name: "announced over the limit", body: strings.NewReader("123456789"), length: 9, wantErr: errBodyTooLarge},
		{name: "chunked", body: strings.NewReader("1234"), length: -1, want: "1234"},
		{name: "chunked, at the limit", body: strings.NewReader("12345678"), length: -1, want: "12345678"},
		{name: "chunked over the limit", body: strings.NewReader("123456789"), length: -1, wantErr: errBodyTooLarge},
		{name: "longer than announced, within the limit", body: strings.NewReader("1234567"), length: 2, want: "1234567"},
		{name: "longer than announced, over the limit", body: strings.NewReader("123456789"), length: 2, wantErr: errBodyTooLarge},
		{name: "a byte at a time", body: iotest.OneByteReader(strings.NewReader("1234567")), length: -1, want: "1234567"},
		{name: "data with EOF", body: iotest.DataErrReader(strings.NewReader("123")), length: 3, want: "123"},
		{name: "empty, length 0 (unknown for a client request)", body: strings.NewReader(""), length: 0, want: ""},
		{name: "http.NoBody", body: http.NoBody, length: 0, want: ""},
		{name: "nil", body: nil, length: 0, want: ""},
		{name: "read error", body: io.MultiReader(strings.NewReader("12"), iotest.ErrReader(boom)), length: 5, wantErr: boom},
		{name: "http.MaxBytesReader's own limit", body: http.MaxBytesReader(nil, io.NopCloser(strings.NewReader("12345")), 3), length: -1, wantErr: errBodyTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readBody(tc.body, tc.length, limit)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("readBody = %q, %v; want %v", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || string(got) != tc.want || got == nil {
				t.Fatalf("readBody = %q (nil: %t), %v; want %q", got, got == nil, err, tc.want)
			}
		})
	}
}

// FuzzAccepted: the 202 body written by hand is byte for byte encoding/json's.
func FuzzAccepted(f *testing.F) {
	f.Add("3f1c9a4e-8d2b-4c8e-9b1a-2f0e6d7c5b4a", "go.micro.api.user", "user.login", "GATEWAY_EVENTS", uint64(1), false)
	f.Add("order-123", "ns.order", "order.created", "EV", uint64(18446744073709551615), true)
	f.Add(`a"b\c<d>e&f`, "x", "y", "z", uint64(0), false)
	f.Add("é\u2028\x7f", "\x00\n", "\xff", "", uint64(7), true)
	f.Fuzz(func(t *testing.T, id, subject, typ, stream string, seq uint64, dup bool) {
		a := Accepted{ID: id, Subject: subject, Type: typ, Stream: stream, Sequence: seq, Duplicate: dup}
		want, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, '\n')
		if got := appendAccepted([]byte("prefix"), a); !bytes.Equal(got, append([]byte("prefix"), want...)) {
			t.Fatalf("appendAccepted = %s, encoding/json: %s", got, want)
		}
	})
}
