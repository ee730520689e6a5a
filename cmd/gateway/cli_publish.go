package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/edgeapi/gateway/apierror"
	brokernats "github.com/edgeapi/gateway/broker/nats"
	"github.com/edgeapi/gateway/handler/event"
	"github.com/edgeapi/gateway/registry/open"
)

var publishCommand = command{
	name:     "publish",
	synopsis: "<topic> ['<json>']",
	minArgs:  1,
	maxArgs:  2,
	about: `Publishes a CloudEvents 1.0 event on subject <namespace>.<topic> through NATS JetStream (the
events.stream stream, created when missing) and prints the broker's receipt once it has
stored the event: {"id","subject","type","stream","sequence"}, as the gateway's event handler
answers a POST /<topic>. The event is built exactly as that handler builds it: the data as
given, Content-Type carrying datacontenttype, ce-specversion, ce-id, ce-type, ce-source and
ce-time headers. The id also deduplicates: publishing the same --id twice within the
stream's duplicate window stores the event once ("duplicate": true).

The data is the argument, or stdin when the argument is absent or "-", or a file's contents
for "@file". With a JSON content type (the default) it must be valid JSON.

Exit status: 0 stored; 1 not stored (the broker could not be reached or did not
acknowledge); 2 usage error.
`,
}

func (c *cli) publish(args []string) int {
	cmd := publishCommand
	fs := cmd.flagSet()
	var f commonFlags
	f.addConfig(fs)
	f.addTimeout(fs, 10*time.Second, "`deadline` for connecting and for the broker's acknowledgement")
	typ := fs.String("type", "", "CloudEvents `type` (default: the topic)")
	id := fs.String("id", "", "CloudEvents `id`, also the deduplication id (default: a new UUID)")
	contentType := fs.String("content-type", "application/json", "media `type` of the data (datacontenttype)")
	source := fs.String("source", "", "CloudEvents `source` (default: events.source from the configuration)")
	pos, code, ok := c.parse(cmd, fs, args)
	if !ok {
		return code
	}
	topic := pos[0]
	if !validTopic(topic) {
		return c.usage(cmd, fmt.Errorf("topic %q: use 1-128 letters, digits, '-' and '_'", topic))
	}
	if flagGiven(fs, "type") && strings.TrimSpace(*typ) == "" {
		return c.usage(cmd, errors.New("-type must not be empty"))
	}
	if f.timeout <= 0 {
		return c.usage(cmd, fmt.Errorf("-timeout %s: must be positive", f.timeout))
	}
	if *contentType != "" {
		if _, _, err := mime.ParseMediaType(*contentType); err != nil {
			return c.usage(cmd, fmt.Errorf("-content-type %q: %v", *contentType, err))
		}
	}
	arg := ""
	if len(pos) == 2 {
		arg = pos[1]
	}
	data, err := c.readInput(arg, len(pos) == 2)
	if err != nil {
		return c.usage(cmd, err)
	}
	if isJSONType(*contentType) && len(bytes.TrimSpace(data)) > 0 && !json.Valid(data) {
		return c.usage(cmd, fmt.Errorf("the data is not valid JSON; set -content-type for other data"))
	}
	cfg, err := c.loadConfig(fs, &f)
	if err != nil {
		return c.usage(cmd, err)
	}
	if *source != "" {
		cfg.Events.Source = *source
	}
	log := c.logger(&f)

	// The event handler builds the event from an HTTP request; give it one, so the CLI's events
	// are the gateway's to the header.
	r, err := http.NewRequest(http.MethodPost, "/"+topic, bytes.NewReader(data))
	if err != nil {
		return c.usage(cmd, err)
	}
	if *contentType != "" {
		r.Header.Set("Content-Type", *contentType)
	}
	if *id != "" {
		r.Header.Set("Ce-Id", *id)
	}
	prefix := eventPrefix(cfg)
	h := event.New(nil, log, event.Config{Namespace: prefix, Source: cfg.Events.Source, BodyLimit: int64(len(data)) + 1})
	msg, evType, err := h.Build(r, "/"+topic)
	if err != nil {
		var ae *apierror.Error
		if errors.As(err, &ae) && ae.Code == http.StatusBadRequest {
			return c.usage(cmd, fmt.Errorf("-id %q: %s", *id, strings.TrimPrefix(ae.Detail, `field "Ce-Id": `)))
		}
		return c.fail(cmd, apierror.GatewayID, err)
	}
	if *typ != "" {
		evType = *typ
		msg.Header["ce-type"] = []string{evType}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	nc, err := open.ConnectNATS(cfg, "gateway-cli")
	if err != nil {
		return c.fail(cmd, apierror.GatewayID, apierror.New(http.StatusServiceUnavailable, "the event was not published: %v", err))
	}
	defer nc.Close()
	pub, err := brokernats.New(ctx, nc, streamConfig(cfg), log)
	if err != nil {
		return c.fail(cmd, apierror.GatewayID, apierror.New(http.StatusServiceUnavailable, "the event was not published: %v", err))
	}
	ack, err := pub.Publish(ctx, msg)
	if err != nil {
		return c.fail(cmd, apierror.GatewayID, apierror.New(http.StatusServiceUnavailable, "the event was not published: the broker did not acknowledge it (%v)", err))
	}
	_ = c.printValue(event.Accepted{ID: event.ID(msg), Subject: msg.Subject, Type: evType, Stream: ack.Stream, Sequence: ack.Sequence, Duplicate: ack.Duplicate})
	return exitOK
}

// validTopic: a topic is one path segment of the event handler, [A-Za-z0-9_-]{1,128}.
func validTopic(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func isJSONType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}
