package rpc

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"sync"

	"google.golang.org/grpc/mem"

	"github.com/edgeapi/gateway/apierror"
)

// Buffer sizes: five classes, 4 KiB to 1 MiB, each four times the one before. A smaller class
// would not pay: grpc's mem.NewBuffer does not reference-count buffers of 1 KiB or less.
const (
	minBufferShift = 12
	maxBufferShift = 20
	bufferClasses  = (maxBufferShift-minBufferShift)/2 + 1
)

// Buffers recycles the byte buffers of request bodies, protobuf messages and JSON answers, so
// that a call allocates no buffer of its own once the pools are warm. It implements
// mem.BufferPool, so grpc hands a buffer back through it once it has written the last byte.
// Buffers must not be copied; the zero value is ready to use, and a nil *Buffers allocates every
// buffer and recycles none.
type Buffers struct {
	classes [bufferClasses]sync.Pool // *[]byte with capacity at least 4 KiB << 2i
}

var _ mem.BufferPool = (*Buffers)(nil)

// Get returns a buffer of length n. Its contents are not zeroed: every user overwrites them.
func (p *Buffers) Get(n int) *[]byte {
	if p == nil {
		b := make([]byte, n)
		return &b
	}
	for i := range p.classes {
		size := 1 << (minBufferShift + 2*i)
		if n > size {
			continue
		}
		if v := p.classes[i].Get(); v != nil {
			b := v.(*[]byte)
			*b = (*b)[:n]
			return b
		}
		b := make([]byte, n, size)
		return &b
	}
	b := make([]byte, n) // larger than any class: used once, left to the collector
	return &b
}

// Put recycles b, filed under the largest class its capacity covers. Buffers under the
// smallest class or over the largest (what one huge message grew) are left to the collector.
func (p *Buffers) Put(b *[]byte) {
	if p == nil || b == nil {
		return
	}
	c := cap(*b)
	if c < 1<<minBufferShift || c > 1<<maxBufferShift {
		return
	}
	i := bufferClasses - 1
	for c < 1<<(minBufferShift+2*i) {
		i--
	}
	*b = (*b)[:0]
	p.classes[i].Put(b)
}

// maxBodyPrealloc bounds the buffer a declared Content-Length reserves before the bytes arrive:
// past it the buffer grows as they do, so a client that announces megabytes and sends them
// slowly does not hold that much memory per connection.
const maxBodyPrealloc = 64 << 10

// ReadBody reads r's body into a buffer from pool, sized from Content-Length (bounded by limit
// and maxBodyPrealloc) rather than grown from a small start, and returns nil for a request
// without a body. A body longer than limit is a 413 apierror. The caller owns the buffer and
// gives it back with pool.Put (or to mem.NewBuffer) when nothing references it anymore.
func ReadBody(r *http.Request, limit int64, pool *Buffers) (*[]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	// limit+1 below must not overflow.
	limit = min(limit, math.MaxInt64-1)
	// A body of unknown length (chunked) starts where io.ReadAll does.
	size := int64(512)
	if r.ContentLength >= 0 {
		// One byte more than announced: room to read EOF, or the byte that breaks the
		// limit, without growing.
		size = min(r.ContentLength, limit, maxBodyPrealloc) + 1
	}
	bp := pool.Get(int(size))
	b := (*bp)[:0]
	for {
		if len(b) == cap(b) {
			nb := pool.Get(2 * cap(b))
			*nb = (*nb)[:copy(*nb, b)]
			*bp = b
			pool.Put(bp)
			bp, b = nb, *nb
		}
		// Never ask for more than one byte past the limit, as http.MaxBytesReader does.
		room := min(int64(cap(b)-len(b)), limit+1-int64(len(b)))
		n, err := r.Body.Read(b[len(b) : len(b)+int(room)])
		b = b[:len(b)+n]
		if int64(len(b)) > limit {
			pool.Put(bp)
			return nil, apierror.BodyTooLarge(limit)
		}
		if err == io.EOF {
			*bp = b
			return bp, nil
		}
		if err != nil {
			pool.Put(bp)
			var tooBig *http.MaxBytesError // a limit set in front of the handler
			if errors.As(err, &tooBig) {
				return nil, apierror.BodyTooLarge(limit)
			}
			return nil, fmt.Errorf("reading the request body: %w", err)
		}
	}
}
