package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/edgeapi/gateway/apierror"
	"github.com/edgeapi/gateway/config"
	"github.com/edgeapi/gateway/descriptor"
)

var callCommand = command{
	name:     "call",
	synopsis: "<service> <Endpoint> ['<json>']",
	minArgs:  2,
	maxArgs:  3,
	about: `Calls Endpoint ("Svc.Method" or "pkg.Svc.Method") of the registered service, named in full
(e.g. go.micro.api.orderservice OrderSrv.GetOrder '{"id":1}'), and prints the answer as JSON.
The request JSON is the argument, or stdin when the argument is absent or "-", or a file's
contents for "@file". Client- and bidi-streaming methods take a sequence of JSON objects, sent
in order; server-streaming methods print each message as it arrives, one JSON per line.

By default the call goes straight to a node found in the configured registry, with the
descriptors from server reflection (or the configured .proto files or protoset). With
--gateway it is POSTed to a running gateway instead, at the path the micro resolver maps to
the service and endpoint (/orderservice/OrderSrv/GetOrder), with metadata as Grpc-Metadata-*
headers and a --timeout given as the Timeout header (otherwise the gateway's rpc.timeout
applies); the answer is printed the same way.

Exit status: 0 success; 1 the call failed (the gateway's JSON error body, with "grpc_code"
when the backend answered with a gRPC status, on stderr); 2 usage error.
`,
}

// callFlags are call's flags.
type callFlags struct {
	commonFlags
	metadata multiFlag
	gateway  string
}

// callRequest is a parsed call command line.
type callRequest struct {
	service, endpoint string
	body              []byte
	md                metadata.MD
	timeout           time.Duration
	timeoutGiven      bool
}

func (c *cli) call(args []string) int {
	cmd := callCommand
	fs := cmd.flagSet()
	var f callFlags
	f.addConfig(fs)
	f.addTimeout(fs, 15*time.Second, "`deadline` of the call, finding the service included; 0 for none. Streams have none unless it is given")
	fs.Var(&f.metadata, "metadata", "gRPC metadata `key=value` sent with the call (repeatable)")
	fs.StringVar(&f.gateway, "gateway", "", "call through the running gateway at `URL` instead of going to the registry")
	pos, code, ok := c.parse(cmd, fs, args)
	if !ok {
		return code
	}
	req := callRequest{service: pos[0], endpoint: pos[1], timeout: f.timeout, timeoutGiven: flagGiven(fs, "timeout")}
	if err := checkCallArgs(req.service, req.endpoint, f.timeout); err != nil {
		return c.usage(cmd, err)
	}
	md, err := parseMetadata(f.metadata)
	if err != nil {
		return c.usage(cmd, err)
	}
	req.md = md
	arg := ""
	if len(pos) == 3 {
		arg = pos[2]
	}
	if req.body, err = c.readInput(arg, len(pos) == 3); err != nil {
		return c.usage(cmd, err)
	}
	cfg, err := c.loadConfig(fs, &f.commonFlags)
	if err != nil {
		return c.usage(cmd, err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if f.gateway != "" {
		return c.callGateway(ctx, cmd, cfg, f.gateway, req)
	}
	return c.callDirect(ctx, cmd, cfg, &f.commonFlags, req)
}

func checkCallArgs(service, endpoint string, timeout time.Duration) error {
	if service == "" {
		return errors.New("the service name is empty")
	}
	dot := strings.LastIndexByte(endpoint, '.')
	if dot <= 0 || dot == len(endpoint)-1 {
		return fmt.Errorf("endpoint %q: want Service.Method, e.g. OrderSrv.GetOrder", endpoint)
	}
	if timeout < 0 {
		return fmt.Errorf("-timeout %s: must not be negative", timeout)
	}
	return nil
}

// parseMetadata turns key=value pairs into outgoing metadata (keys lower-cased, as gRPC has
// them).
func parseMetadata(pairs []string) (metadata.MD, error) {
	md := metadata.MD{}
	for _, p := range pairs {
		k, v, ok := strings.Cut(p, "=")
		k = strings.ToLower(strings.TrimSpace(k))
		if !ok || k == "" {
			return nil, fmt.Errorf("-metadata %q: want key=value", p)
		}
		for i := 0; i < len(k); i++ {
			if c := k[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
				return nil, fmt.Errorf("-metadata %q: a key is made of letters, digits, '-', '_' and '.'", p)
			}
		}
		if strings.HasPrefix(k, "grpc-") || strings.HasSuffix(k, "-bin") {
			return nil, fmt.Errorf("-metadata %q: grpc-* keys are reserved and -bin (binary) keys are not supported", p)
		}
		md.Append(k, v)
	}
	return md, nil
}

// callDirect calls the service through the registry, as the gateway would.
func (c *cli) callDirect(ctx context.Context, cmd command, cfg config.Config, f *commonFlags, req callRequest) int {
	// The deadline covers the whole command for unary calls; a stream gets one only when the
	// user asked, but finding the service stays bounded.
	setupCtx, cancel := ctx, context.CancelFunc(func() {})
	if req.timeout > 0 {
		setupCtx, cancel = context.WithTimeout(ctx, req.timeout)
	}
	defer cancel()
	b, err := openBackend(setupCtx, cfg, c.logger(f))
	if err != nil {
		return c.fail(cmd, req.service, err)
	}
	defer b.close()
	set, err := b.descriptors(setupCtx, req.service)
	if err != nil {
		return c.fail(cmd, req.service, err)
	}
	m, err := set.Method(req.endpoint)
	if err != nil {
		return c.fail(cmd, req.service, err)
	}
	msgs, err := requestMessages(req.body, m, set)
	if err != nil {
		return c.fail(cmd, req.service, err)
	}
	mo := protojson.MarshalOptions{UseProtoNames: cfg.RPC.UseProtoNames, EmitUnpopulated: !cfg.RPC.OmitZeroValues, Resolver: setTypes{set}}

	streaming := m.ClientStreaming() || m.ServerStreaming()
	callCtx := setupCtx
	if streaming && !req.timeoutGiven {
		callCtx = ctx
	}
	callCtx = metadata.NewOutgoingContext(callCtx, req.md)
	if !streaming {
		resp := dynamicpb.NewMessage(m.Output)
		if err := b.caller.Invoke(callCtx, req.service, m.Path, msgs[0], resp); err != nil {
			c.writeError(callError(req.service, set, err))
			return exitFail
		}
		out, err := mo.Marshal(resp)
		if err != nil {
			return c.fail(cmd, req.service, fmt.Errorf("encoding the %s answer as JSON: %w", m.Output.FullName(), err))
		}
		_ = writeJSON(c.stdout, out, isTerminal(c.stdout))
		return exitOK
	}
	if err := c.stream(callCtx, b, req.service, set, m, msgs, mo); err != nil {
		c.writeError(callError(req.service, set, err))
		return exitFail
	}
	return exitOK
}

// stream runs a streaming call: a goroutine sends msgs and closes the send side while the
// answers are printed one JSON per line as they arrive.
func (c *cli) stream(ctx context.Context, b *backend, service string, set *descriptor.Set, m *descriptor.Method,
	msgs []*dynamicpb.Message, mo protojson.MarshalOptions) (final error) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel (deferred below) has stopped the sender
	defer cancel()
	desc := &grpc.StreamDesc{ClientStreams: m.ClientStreaming(), ServerStreams: m.ServerStreaming()}
	cs, done, err := b.caller.NewStream(ctx, service, desc, m.Path)
	if err != nil {
		return err
	}
	defer func() { done(final) }()
	wg.Go(func() {
		for _, msg := range msgs {
			// A failed send means the stream is over; RecvMsg reports why.
			if cs.SendMsg(msg) != nil {
				return
			}
		}
		_ = cs.CloseSend()
	})
	w := bufio.NewWriter(c.stdout)
	for {
		resp := dynamicpb.NewMessage(m.Output)
		err := cs.RecvMsg(resp)
		if errors.Is(err, io.EOF) {
			return w.Flush()
		}
		if err != nil {
			_ = w.Flush()
			return err
		}
		out, err := mo.Marshal(resp)
		if err != nil {
			_ = w.Flush()
			return fmt.Errorf("encoding the %s answer as JSON: %w", m.Output.FullName(), err)
		}
		if err := writeJSON(w, out, false); err != nil {
			return err
		}
		if err := w.Flush(); err != nil {
			return err // stdout closed (e.g. `| head`): stop
		}
	}
}

// requestMessages decodes the request: one message, or for client-streaming methods every
// JSON value in body, in order. Empty input is one empty message (none for client streams).
func requestMessages(body []byte, m *descriptor.Method, set *descriptor.Set) ([]*dynamicpb.Message, error) {
	opts := protojson.UnmarshalOptions{Resolver: setTypes{set}}
	decode := func(raw []byte, n int) (*dynamicpb.Message, error) {
		msg := dynamicpb.NewMessage(m.Input)
		if len(bytes.TrimSpace(raw)) == 0 {
			return msg, nil
		}
		if err := opts.Unmarshal(raw, msg); err != nil {
			what := "the request"
			if n > 0 {
				what = fmt.Sprintf("request message #%d", n)
			}
			return nil, apierror.BadRequest("", fmt.Errorf("%s is not a valid %s: %s", what, m.Input.FullName(), protoErrorText(err)))
		}
		return msg, nil
	}
	if !m.ClientStreaming() {
		msg, err := decode(body, 0)
		if err != nil {
			return nil, err
		}
		return []*dynamicpb.Message{msg}, nil
	}
	var msgs []*dynamicpb.Message
	dec := json.NewDecoder(bytes.NewReader(body))
	for n := 1; ; n++ {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			return msgs, nil
		}
		if err != nil {
			return nil, apierror.BadRequest("", fmt.Errorf("request message #%d: %w", n, err))
		}
		msg, err := decode(raw, n)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, msg)
	}
}

// protoErrorText is a protobuf error's message without its "proto:" prefix, whose space the
// protobuf module randomly makes non-breaking so that nobody matches on it.
func protoErrorText(err error) string {
	s := strings.ReplaceAll(err.Error(), "\u00a0", " ")
	return strings.TrimPrefix(s, "proto: ")
}

// callError is the error body of a failed call: the backend's status, with its details
// rendered with the service's own message types, as the rpc handler does.
func callError(service string, set *descriptor.Set, err error) *apierror.Error {
	e := apierror.From(service, err)
	if st, ok := status.FromError(err); ok && set != nil && e.GRPCCode != "" {
		e.Details = apierror.DetailsJSON(st, setTypes{set})
	}
	return e
}

// setTypes resolves a service's own message types first, then the ones linked into the binary
// (google.rpc error details, well-known types).
type setTypes struct{ set *descriptor.Set }

func (t setTypes) FindMessageByName(n protoreflect.FullName) (protoreflect.MessageType, error) {
	if mt, err := t.set.Types.FindMessageByName(n); err == nil {
		return mt, nil
	}
	return protoregistry.GlobalTypes.FindMessageByName(n)
}

func (t setTypes) FindMessageByURL(u string) (protoreflect.MessageType, error) {
	if mt, err := t.set.Types.FindMessageByURL(u); err == nil {
		return mt, nil
	}
	return protoregistry.GlobalTypes.FindMessageByURL(u)
}

func (t setTypes) FindExtensionByName(n protoreflect.FullName) (protoreflect.ExtensionType, error) {
	if xt, err := t.set.Types.FindExtensionByName(n); err == nil {
		return xt, nil
	}
	return protoregistry.GlobalTypes.FindExtensionByName(n)
}

func (t setTypes) FindExtensionByNumber(m protoreflect.FullName, n protoreflect.FieldNumber) (protoreflect.ExtensionType, error) {
	if xt, err := t.set.Types.FindExtensionByNumber(m, n); err == nil {
		return xt, nil
	}
	return protoregistry.GlobalTypes.FindExtensionByNumber(m, n)
}
