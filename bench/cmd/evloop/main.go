//go:build linux

// Command evloop is a measuring stick for the http scenario, not a proxy anyone should run. It
// proxies as cmd/floor does (keep-alive HTTP/1.1; the request passed on as it came, the answer
// passed back), but on one epoll event loop per core, each on its own locked OS thread, the way
// NGINX's workers do, instead of Go's goroutine per connection: a socket is read only when
// epoll says it has data, and no goroutine is parked and woken per request.
//
// The question it answers: how much of the gateway's gap to NGINX is Go's I/O model, and how
// much an event-loop design written in Go could win back. The gateway cannot simply adopt it:
// its handlers, middleware and backend clients are http.Handler code that blocks on I/O.
//
// Limits, all deliberate for a measuring stick: Content-Length framing only, both ways (a
// chunked message or an answer without a length closes the connection); no timeouts; no header
// rewriting (hop-by-hop headers go through, as the floor's do); a pipelined request waits for the
// answer before it; upstream connections are dialled blocking (a loopback connect) and kept
// without bound.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/netip"
	"runtime"
	"strconv"
	"syscall"

	"github.com/edgeapi/gateway/bench/internal/debugsrv"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8084", "HTTP listen address (IPv4)")
	backend := flag.String("backend", "127.0.0.1:8000", "backend host:port (IPv4)")
	loops := flag.Int("loops", runtime.NumCPU(), "event loops (threads), each with its own listening socket (SO_REUSEPORT)")
	debug := flag.String("debug", "", "side address for pprof and allocation counts (see internal/debugsrv)")
	flag.Parse()
	debugsrv.Start(*debug)
	la, err := sockaddr(*listen)
	if err != nil {
		log.Fatalf("evloop: -listen: %v", err)
	}
	ba, err := sockaddr(*backend)
	if err != nil {
		log.Fatalf("evloop: -backend: %v", err)
	}
	errc := make(chan error, *loops)
	for range *loops {
		l, err := newLoop(la, ba)
		if err != nil {
			log.Fatalf("evloop: %v", err)
		}
		go func() { errc <- l.run() }()
	}
	log.Fatalf("evloop: %v", <-errc)
}

func sockaddr(hostport string) (*syscall.SockaddrInet4, error) {
	ap, err := netip.ParseAddrPort(hostport)
	if err != nil {
		return nil, err
	}
	if !ap.Addr().Is4() {
		return nil, fmt.Errorf("%s: only IPv4 addresses", hostport)
	}
	return &syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}, nil
}

// side is one socket: a client's or an upstream's.
type side struct {
	fd       int
	upstream bool
	in       []byte // read, not yet consumed
	out      []byte // still to write, once the socket has room
	peer     *side  // the other end of the exchange in flight
	writable bool   // EPOLLOUT is asked for
}

type loop struct {
	epfd    int
	lfd     int
	backend *syscall.SockaddrInet4
	sides   map[int]*side
	idle    []*side // upstream connections without an exchange
	buf     []byte
}

func newLoop(listen, backend *syscall.SockaddrInet4) (*loop, error) {
	lfd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	const soReusePort = 0xf // SO_REUSEPORT: the kernel spreads connections over the loops
	if err := syscall.SetsockoptInt(lfd, syscall.SOL_SOCKET, soReusePort, 1); err != nil {
		return nil, err
	}
	if err := syscall.SetsockoptInt(lfd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		return nil, err
	}
	if err := syscall.Bind(lfd, listen); err != nil {
		return nil, fmt.Errorf("bind: %w", err)
	}
	if err := syscall.Listen(lfd, 4096); err != nil {
		return nil, err
	}
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	l := &loop{epfd: epfd, lfd: lfd, backend: backend, sides: map[int]*side{}, buf: make([]byte, 64<<10)}
	return l, l.ctl(syscall.EPOLL_CTL_ADD, lfd, syscall.EPOLLIN)
}

func (l *loop) ctl(op, fd int, events uint32) error {
	return syscall.EpollCtl(l.epfd, op, fd, &syscall.EpollEvent{Events: events, Fd: int32(fd)})
}

// run is the loop: wait for readiness, handle every ready socket, again.
func (l *loop) run() error {
	runtime.LockOSThread() // one thread per loop, as one process per NGINX worker
	events := make([]syscall.EpollEvent, 256)
	for {
		n, err := syscall.EpollWait(l.epfd, events, -1)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		for _, ev := range events[:n] {
			fd := int(ev.Fd)
			if fd == l.lfd {
				l.accept()
				continue
			}
			s := l.sides[fd]
			if s == nil {
				continue // closed while handling an earlier event of this batch
			}
			if ev.Events&syscall.EPOLLOUT != 0 {
				l.flush(s)
			}
			if ev.Events&(syscall.EPOLLIN|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 && l.sides[fd] == s {
				l.read(s)
			}
		}
	}
}

func (l *loop) accept() {
	for {
		fd, _, err := syscall.Accept4(l.lfd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
		if err != nil {
			return // EAGAIN: no more for now; anything else: the next wake-up tries again
		}
		l.add(&side{fd: fd})
	}
}

func (l *loop) add(s *side) {
	_ = syscall.SetsockoptInt(s.fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	if err := l.ctl(syscall.EPOLL_CTL_ADD, s.fd, syscall.EPOLLIN|syscall.EPOLLRDHUP); err != nil {
		_ = syscall.Close(s.fd)
		return
	}
	l.sides[s.fd] = s
}

// close closes s and the exchange's other end with it, if any.
func (l *loop) close(s *side) {
	if l.sides[s.fd] != s {
		return
	}
	delete(l.sides, s.fd)
	_ = syscall.Close(s.fd) // also removes it from the epoll set
	if s.upstream {
		for i, u := range l.idle {
			if u == s {
				l.idle = append(l.idle[:i], l.idle[i+1:]...)
				break
			}
		}
	}
	if p := s.peer; p != nil {
		s.peer, p.peer = nil, nil
		l.close(p)
	}
}

func (l *loop) read(s *side) {
	n, err := syscall.Read(s.fd, l.buf)
	if err == syscall.EAGAIN {
		return
	}
	if n <= 0 || err != nil {
		l.close(s)
		return
	}
	s.in = append(s.in, l.buf[:n]...)
	if s.upstream {
		l.answer(s)
	} else {
		l.request(s)
	}
}

// request passes the client's next whole request to an upstream connection, unless one of its
// requests is in flight.
func (l *loop) request(c *side) {
	if c.peer != nil {
		return
	}
	n := messageLength(c.in, true)
	switch {
	case n == 0:
		return // not whole yet
	case n < 0:
		l.send(c, []byte("HTTP/1.1 501 Not Implemented\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
		l.close(c)
		return
	}
	u := l.upstream()
	if u == nil {
		l.send(c, []byte("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
		l.close(c)
		return
	}
	c.peer, u.peer = u, c
	l.send(u, c.in[:n])
	c.in = consume(c.in, n)
}

// answer passes the upstream's whole answer to its client and frees the upstream connection.
func (l *loop) answer(u *side) {
	c := u.peer
	if c == nil {
		l.close(u) // an idle connection spoke: closed, or a stray answer
		return
	}
	n := messageLength(u.in, false)
	switch {
	case n == 0:
		return
	case n < 0 || n < len(u.in):
		l.close(u) // unsupported framing, or more than one answer: the connection is not usable
		return
	}
	l.send(c, u.in)
	u.in = u.in[:0]
	c.peer, u.peer = nil, nil
	l.idle = append(l.idle, u)
	if l.sides[c.fd] == c {
		l.request(c) // a pipelined request may be waiting
	}
}

func consume(b []byte, n int) []byte {
	rest := copy(b, b[n:])
	return b[:rest]
}

// upstream returns an idle upstream connection or dials one.
func (l *loop) upstream() *side {
	if k := len(l.idle); k > 0 {
		u := l.idle[k-1]
		l.idle = l.idle[:k-1]
		return u
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	if err := syscall.Connect(fd, l.backend); err != nil {
		_ = syscall.Close(fd)
		return nil
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		_ = syscall.Close(fd)
		return nil
	}
	u := &side{fd: fd, upstream: true}
	l.add(u)
	if l.sides[fd] != u {
		return nil
	}
	return u
}

// send writes b to s, keeping what the socket has no room for until epoll says it has.
func (l *loop) send(s *side, b []byte) {
	if len(s.out) > 0 {
		s.out = append(s.out, b...)
		return
	}
	n, err := syscall.Write(s.fd, b)
	if err != nil && err != syscall.EAGAIN {
		l.close(s)
		return
	}
	n = max(n, 0)
	if n < len(b) {
		s.out = append(s.out[:0], b[n:]...)
		l.want(s, true)
	}
}

func (l *loop) flush(s *side) {
	for len(s.out) > 0 {
		n, err := syscall.Write(s.fd, s.out)
		if err == syscall.EAGAIN {
			return
		}
		if err != nil {
			l.close(s)
			return
		}
		s.out = consume(s.out, n)
	}
	l.want(s, false)
}

func (l *loop) want(s *side, out bool) {
	if s.writable == out {
		return
	}
	s.writable = out
	ev := uint32(syscall.EPOLLIN | syscall.EPOLLRDHUP)
	if out {
		ev |= syscall.EPOLLOUT
	}
	if err := l.ctl(syscall.EPOLL_CTL_MOD, s.fd, ev); err != nil {
		l.close(s)
	}
}

var (
	crlf2         = []byte("\r\n\r\n")
	contentLength = []byte("content-length:")
	transferEnc   = []byte("transfer-encoding:")
)

// messageLength is the length of the whole message at the start of b: head and Content-Length
// body. 0: not whole yet; -1: framing this stick does not handle (chunked, an answer without a
// length, a malformed length).
func messageLength(b []byte, request bool) int {
	end := bytes.Index(b, crlf2)
	if end < 0 {
		if len(b) > 64<<10 {
			return -1
		}
		return 0
	}
	head := b[:end+2]
	length := -1
	for line := range bytes.SplitSeq(head, []byte("\r\n")) {
		if len(line) > len(transferEnc) && bytes.EqualFold(line[:len(transferEnc)], transferEnc) {
			return -1
		}
		if len(line) > len(contentLength) && bytes.EqualFold(line[:len(contentLength)], contentLength) {
			v, err := strconv.Atoi(string(bytes.TrimSpace(line[len(contentLength):])))
			if err != nil || v < 0 {
				return -1
			}
			length = v
		}
	}
	if length < 0 {
		if !request {
			return -1
		}
		length = 0
	}
	total := end + 4 + length
	if len(b) < total {
		return 0
	}
	return total
}
