package main

// The command-line client: call, services, describe, publish and health. Each command parses
// its own flag set; they share the conventions below.
//
//   - Flags may come before, between or after the positional arguments; "--" ends the flags.
//   - -h / --help prints the command's usage on stdout and exits 0.
//   - Exit codes: 0 success, 1 the operation failed (the error as the gateway's JSON error body
//     on stderr), 2 a usage error (a one-line message on stderr).
//   - Configuration: --config FILE (default config.yaml when present) and the GATEWAY_*
//     environment variables, read exactly as `gateway serve` reads them, so the CLI finds the
//     same registry, namespace and NATS server as the gateway.
//   - JSON is printed indented when the output is a terminal, compact (one document per line)
//     otherwise.

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/edgeapi/gateway/apierror"
	"github.com/edgeapi/gateway/config"
)

// Exit codes of every command.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// cli is what a command reads from and writes to.
type cli struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

// usageError is a mistake in the command line or the input it names: exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// command describes one subcommand for its usage text.
type command struct {
	name     string // "call"
	synopsis string // "<service> <Endpoint> ['<json>']"
	about    string // paragraphs printed after the synopsis
	minArgs  int
	maxArgs  int
}

// flagSet returns a silent flag set; parse prints errors and usage itself.
func (cmd command) flagSet() *flag.FlagSet {
	fs := flag.NewFlagSet("gateway "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// printUsage writes the command's usage and flags to w.
func (cmd command) printUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: gateway %s [flags] %s\n\n%s\nFlags:\n", cmd.name, cmd.synopsis, cmd.about)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// parse parses args with fs, allowing flags among the positional arguments, and checks how
// many positional arguments there are. ok false means the command is over and code is its exit
// code: 0 after --help, 2 after a usage error (reported on stderr).
func (c *cli) parse(cmd command, fs *flag.FlagSet, args []string) (pos []string, code int, ok bool) {
	pos, err := parseInterspersed(fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		cmd.printUsage(c.stdout, fs)
		return nil, exitOK, false
	case err != nil:
		return nil, c.usage(cmd, err), false
	case len(pos) < cmd.minArgs:
		return nil, c.usage(cmd, fmt.Errorf("missing arguments: want %s", cmd.synopsis)), false
	case len(pos) > cmd.maxArgs:
		return nil, c.usage(cmd, fmt.Errorf("unexpected argument %q", pos[cmd.maxArgs])), false
	}
	return pos, exitOK, true
}

// usage reports a usage error and returns exit code 2.
func (c *cli) usage(cmd command, err error) int {
	fmt.Fprintf(c.stderr, "gateway %s: %v\nRun 'gateway %s --help' for usage.\n", cmd.name, err, cmd.name)
	return exitUsage
}

// parseInterspersed parses flags wherever they appear among the positional arguments, which
// it returns in order. Everything after "--" is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// commonFlags are the flags most commands share.
type commonFlags struct {
	config  string
	verbose bool
	timeout time.Duration
	json    bool
}

func (f *commonFlags) addConfig(fs *flag.FlagSet) {
	fs.StringVar(&f.config, "config", config.DefaultFile,
		"gateway configuration `file` (registry, namespace, NATS); the default is read only when present")
	fs.BoolVar(&f.verbose, "verbose", false, "log what the client does to stderr")
}

func (f *commonFlags) addTimeout(fs *flag.FlagSet, def time.Duration, what string) {
	fs.DurationVar(&f.timeout, "timeout", def, what)
}

func (f *commonFlags) addJSON(fs *flag.FlagSet) {
	fs.BoolVar(&f.json, "json", false, "print JSON instead of text")
}

// loadConfig reads the configuration the way serve does: the file (the default one only when
// it exists), then GATEWAY_* variables. A bad file is a usage error.
func (c *cli) loadConfig(fs *flag.FlagSet, f *commonFlags) (config.Config, error) {
	var args []string
	if flagGiven(fs, "config") {
		args = []string{"-config=" + f.config}
	}
	cfg, err := config.Load(args, c.getenv)
	if err != nil {
		return config.Config{}, &usageError{msg: err.Error()}
	}
	return cfg, nil
}

// logger logs to stderr with --verbose and discards otherwise, so that stderr carries only the
// error body.
func (c *cli) logger(f *commonFlags) *slog.Logger {
	if !f.verbose {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(c.stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}

// multiFlag collects a repeatable flag's values.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// isTerminal reports whether v (stdin, stdout or stderr) is a character device (a terminal),
// the test the CLI uses to choose indented output.
func isTerminal(v any) bool {
	f, ok := v.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// writeJSON writes one JSON document followed by a newline, indented when pretty, compact
// otherwise. Its white space is normalised either way (protojson's is deliberately unstable).
func writeJSON(w io.Writer, doc []byte, pretty bool) error {
	var buf bytes.Buffer
	var err error
	if pretty {
		err = json.Indent(&buf, doc, "", "  ")
	} else {
		err = json.Compact(&buf, doc)
	}
	if err != nil {
		// Not JSON after all (a proxy's HTML page, say): pass it on untouched.
		buf.Reset()
		buf.Write(bytes.TrimRight(doc, "\n"))
	}
	buf.WriteByte('\n')
	_, err = w.Write(buf.Bytes())
	return err
}

// printValue marshals v as JSON and writes it with writeJSON to stdout.
func (c *cli) printValue(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return writeJSON(c.stdout, b, isTerminal(c.stdout))
}

// fail writes err as the gateway's JSON error body (id names who failed) on stderr and returns
// exit code 1. A usageError is reported as such instead, with exit code 2.
func (c *cli) fail(cmd command, id string, err error) int {
	var ue *usageError
	if errors.As(err, &ue) {
		return c.usage(cmd, ue)
	}
	c.writeError(apierror.From(id, err))
	return exitFail
}

// writeError writes an error body on stderr.
func (c *cli) writeError(e *apierror.Error) {
	b, err := json.Marshal(e)
	if err != nil {
		b = []byte(`{"id":"gateway","code":500,"detail":"error body could not be encoded","status":"Internal Server Error"}`)
	}
	_ = writeJSON(c.stderr, b, isTerminal(c.stderr))
}

// readInput returns the input an argument names: the argument itself, stdin when it is absent
// (given false) or "-", or the contents of a file for "@file". An absent argument with stdin
// a terminal is empty input, so that a bare `gateway call svc Ep` does not wait for typing.
func (c *cli) readInput(arg string, given bool) ([]byte, error) {
	switch {
	case !given && isTerminal(c.stdin):
		return nil, nil
	case !given || arg == "-":
		b, err := io.ReadAll(c.stdin)
		if err != nil {
			return nil, usagef("reading stdin: %v", err)
		}
		return b, nil
	case strings.HasPrefix(arg, "@"):
		b, err := os.ReadFile(arg[1:])
		if err != nil {
			return nil, usagef("reading the input file: %v", err)
		}
		return b, nil
	}
	return []byte(arg), nil
}
