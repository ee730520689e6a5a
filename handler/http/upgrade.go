package httphandler

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/edgeapi/gateway/apierror"
)

// switchProtocols completes an upgrade the node accepted (101 Switching Protocols): the
// client's connection is taken over, the 101 passed on, and bytes pumped both ways until
// either side is done. The node must switch to the protocol the client asked for.
func (x *exchange) switchProtocols(resp *http.Response) {
	w := x.w
	backend, ok := resp.Body.(io.ReadWriteCloser)
	got := resp.Header.Get("Upgrade")
	switch {
	case x.upType == "":
		apierror.Write(w, x.service, apierror.New(http.StatusBadGateway, "the node switched protocols without being asked to"))
		return
	case !ok:
		apierror.Write(w, x.service, apierror.New(http.StatusBadGateway, "the node's 101 answer cannot carry another protocol"))
		return
	case !strings.EqualFold(got, x.upType):
		apierror.Write(w, x.service, apierror.New(http.StatusBadGateway, "the node switched to protocol %q, the client asked for %q", got, x.upType))
		return
	}
	hdr := w.Header()
	copyResponseHeader(hdr, resp.Header)
	hdr["Connection"] = connUpgrade
	hdr["Upgrade"] = []string{got}

	client, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		apierror.Write(w, x.service, apierror.New(http.StatusBadGateway, "cannot take over the client's connection to switch protocols: %v", err))
		return
	}
	defer client.Close()
	if err := writeSwitch(brw.Writer, hdr); err != nil {
		x.h.log.Debug("proxy: writing 101 to the client", "service", x.service, "error", err)
		return
	}
	x.h.pump(client, brw.Reader, backend)
}

func writeSwitch(bw *bufio.Writer, hdr http.Header) error {
	_, _ = bw.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	if err := hdr.Write(bw); err != nil {
		return err
	}
	_, _ = bw.WriteString("\r\n")
	return bw.Flush()
}

// pump copies client to backend (starting with what the server had already buffered from the
// client) and backend to client until both directions are done; a direction that ends cleanly
// half-closes its destination where the connection allows, anything else closes both. It
// returns once its goroutine has ended.
func (h *Handler) pump(client net.Conn, fromClient *bufio.Reader, backend io.ReadWriteCloser) {
	closeBoth := func() {
		_ = client.Close()
		_ = backend.Close()
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.pipe(client, backend, closeBoth)
	}()
	var src io.Reader = client
	if fromClient.Buffered() > 0 {
		src = io.MultiReader(io.LimitReader(fromClient, int64(fromClient.Buffered())), client)
	}
	h.pipe(backend, src, closeBoth)
	<-done
	closeBoth()
}

// pipe copies src to dst through a pooled buffer, then half-closes dst (or calls closeBoth
// when the copy failed or dst cannot be half-closed).
func (h *Handler) pipe(dst io.Writer, src io.Reader, closeBoth func()) {
	bp := h.buffers.Get().(*[]byte)
	_, err := io.CopyBuffer(dst, src, *bp)
	h.buffers.Put(bp)
	if cw, ok := dst.(interface{ CloseWrite() error }); ok && err == nil {
		if cw.CloseWrite() == nil {
			return
		}
	}
	closeBoth()
}
