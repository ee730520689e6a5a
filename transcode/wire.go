package transcode

import (
	"slices"

	"google.golang.org/protobuf/encoding/protowire"
)

// Length prefixes. A length-delimited value (message, packed list, string) is written after a
// one-byte placeholder for its length. When the value turns out to be 128 bytes or longer, its
// length needs more bytes: instead of moving the value then (which would cost O(depth x size)
// for nested messages), the length is recorded as a fixup, and finish inserts all of them in
// one backward pass over the output. Most values are short and never need one.

// fixup is a length to insert at the placeholder byte at pos.
type fixup struct{ pos, n int }

// lengths tracks the fixups of one AppendWire call.
type lengths struct {
	fixups []fixup
	extra  int // bytes the fixups recorded so far add to the output
}

// begin reserves the placeholder and returns the value's start and the extra count at that
// point, both to be given to end.
func (l *lengths) begin(dst []byte) ([]byte, int, int) {
	dst = append(dst, 0)
	return dst, len(dst), l.extra
}

// end sets the length of the value that started at at.
func (l *lengths) end(dst []byte, at, extra0 int) []byte {
	n := len(dst) - at + l.extra - extra0 // what the value will be once inner fixups are applied
	if n < 0x80 {
		dst[at-1] = byte(n)
		return dst
	}
	l.fixups = append(l.fixups, fixup{pos: at - 1, n: n})
	l.extra += protowire.SizeVarint(uint64(n)) - 1
	return dst
}

// finish applies the fixups, moving every byte at most once.
func (l *lengths) finish(dst []byte) []byte {
	if len(l.fixups) == 0 {
		return dst
	}
	// Fixups are recorded as values close, inner ones first; apply them last to first in
	// the output.
	slices.SortFunc(l.fixups, func(a, b fixup) int { return b.pos - a.pos })
	r := len(dst)
	dst = append(dst, make([]byte, l.extra)...)
	w := len(dst)
	for _, f := range l.fixups {
		seg := r - (f.pos + 1)
		copy(dst[w-seg:w], dst[f.pos+1:r])
		w -= seg
		size := protowire.SizeVarint(uint64(f.n))
		protowire.AppendVarint(dst[w-size:w-size], uint64(f.n))
		w -= size
		r = f.pos
	}
	l.fixups, l.extra = l.fixups[:0], 0
	return dst
}
