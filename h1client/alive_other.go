//go:build !unix

package h1client

// initPeek does nothing where the socket cannot be looked at.
func (c *conn) initPeek() {}

// alive reports whether an idle connection can carry a request; here only the reader's buffer
// can tell (a failed request on a connection the server closed is retried when replayable).
func (c *conn) alive(bool) bool { return c.br.Buffered() == 0 }
