//go:build unix

package h1client

import (
	"crypto/tls"

	"syscall"
)

// initPeek prepares alive's look at the socket under the connection (under TLS too).
func (c *conn) initPeek() {
	nc := c.nc
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	c.raw = raw
	c.peek = c.peekSocket // one method value per connection, not one closure per check
}

// peekSocket looks, without blocking or consuming, for what arrived on an idle socket.
func (c *conn) peekSocket(fd uintptr) bool {
	c.peekN, _, c.peekErr = syscall.Recvfrom(int(fd), c.peekByte[:], syscall.MSG_PEEK)
	return true // done either way: never wait for readiness
}

// alive reports whether an idle connection can carry a request: the server has neither closed
// it nor sent anything (an idle connection has nothing to say; a stray answer means the
// exchange before went wrong). Without this look, only a failed request would tell, and a
// request that cannot be replayed would fail with it. Without look only the reader's buffer is
// checked.
func (c *conn) alive(look bool) bool {
	if c.br.Buffered() > 0 {
		return false
	}
	if c.raw == nil || !look {
		return true
	}
	if err := c.raw.Read(c.peek); err != nil {
		return false
	}
	// Nothing to read (EAGAIN) is the healthy answer; 0 bytes is the server's FIN.
	return c.peekErr == syscall.EAGAIN || c.peekErr == syscall.EWOULDBLOCK
}
