package natsserver

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats-server/v2/server"
)

var _ server.Logger = (*logger)(nil)

// logger routes the nats-server's log calls to slog: warnings and errors at their level,
// notices at Debug. Debug and trace output is switched off in Start, so those calls are
// dropped. Fatalf does not exit (the server returns by itself after a fatal error); its
// first message is handed to Start, which reports it as the reason the server did not start.
type logger struct {
	log   *slog.Logger
	fatal chan string
}

func newLogger(log *slog.Logger) *logger {
	return &logger{log: log.With("component", "nats-server"), fatal: make(chan string, 1)}
}

func (l *logger) logf(level slog.Level, format string, v []any) {
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	l.log.Log(context.Background(), level, fmt.Sprintf(format, v...))
}

func (l *logger) Noticef(format string, v ...any) { l.logf(slog.LevelDebug, format, v) }
func (l *logger) Warnf(format string, v ...any)   { l.logf(slog.LevelWarn, format, v) }
func (l *logger) Errorf(format string, v ...any)  { l.logf(slog.LevelError, format, v) }
func (l *logger) Debugf(string, ...any)           {}
func (l *logger) Tracef(string, ...any)           {}

func (l *logger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.log.Error(msg)
	select {
	case l.fatal <- msg:
	default:
	}
}
