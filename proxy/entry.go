package proxy

import (
	"encoding/binary"
	"time"
)

// An entry is a cached answer as the tiers hold it: a fixed head, the
// request header values it varies on, its end-to-end headers, then the
// body. Reading it allocates nothing, so an L1 hit does not either.
//
//	magic   1 byte  'T'
//	kind    1 byte  kindAnswer or kindPass
//	status  2 bytes
//	stored  8 bytes unix nanoseconds: when the origin's answer arrived
//	fresh   8 bytes unix nanoseconds: fresh until then
//	stale   8 bytes unix nanoseconds: may be served on origin errors until then
//	age     4 bytes seconds: the origin's Age at arrival
//	vary    2 bytes count, then per header: 2 bytes name length, name, 2 bytes value length, value
//	headers 2 bytes count, then per header: 2 bytes name length, name, 4 bytes value length, value
//	body    the rest
const (
	magic     = 'T'
	kindReply = 'r' // an answer to serve
	kindPass  = 'p' // an answer not to cache: forward the requests of this key
	headLen   = 1 + 1 + 2 + 8 + 8 + 8 + 4
)

// entry is a decoded view of an encoded entry; its slices alias the bytes.
type entry struct {
	kind                 byte
	status               int
	stored, fresh, stale int64
	age                  uint32
	vary, headers        []byte // the encoded lists, walked by fields
	body                 []byte
}

// decode reads b; ok is false for bytes that are not an entry.
func decode(b []byte) (e entry, ok bool) {
	if len(b) < headLen+4 || b[0] != magic || (b[1] != kindReply && b[1] != kindPass) {
		return entry{}, false
	}
	e.kind = b[1]
	e.status = int(binary.LittleEndian.Uint16(b[2:]))
	e.stored = int64(binary.LittleEndian.Uint64(b[4:]))
	e.fresh = int64(binary.LittleEndian.Uint64(b[12:]))
	e.stale = int64(binary.LittleEndian.Uint64(b[20:]))
	e.age = binary.LittleEndian.Uint32(b[28:])
	rest := b[headLen:]
	var n int
	if n, ok = skipFields(rest, 2); !ok {
		return entry{}, false
	}
	e.vary, rest = rest[:n], rest[n:]
	if n, ok = skipFields(rest, 4); !ok {
		return entry{}, false
	}
	e.headers, e.body = rest[:n], rest[n:]
	return e, true
}

// skipFields returns the length of a list of name/value pairs whose values
// have vlen-byte lengths, and whether it is whole.
func skipFields(b []byte, vlen int) (int, bool) {
	if len(b) < 2 {
		return 0, false
	}
	count := int(binary.LittleEndian.Uint16(b))
	i := 2
	for range count {
		if len(b) < i+2 {
			return 0, false
		}
		i += 2 + int(binary.LittleEndian.Uint16(b[i:]))
		if len(b) < i+vlen {
			return 0, false
		}
		var l int
		if vlen == 2 {
			l = int(binary.LittleEndian.Uint16(b[i:]))
		} else {
			l = int(binary.LittleEndian.Uint32(b[i:]))
		}
		i += vlen + l
		if len(b) < i {
			return 0, false
		}
	}
	return i, true
}

// fields walks a list that decode checked: next returns one pair at a time.
type fields struct {
	b    []byte
	vlen int
	left int
}

func newFields(list []byte, vlen int) fields {
	return fields{b: list[2:], vlen: vlen, left: int(binary.LittleEndian.Uint16(list))}
}

func (f *fields) next() (name, value []byte, ok bool) {
	if f.left == 0 {
		return nil, nil, false
	}
	f.left--
	n := int(binary.LittleEndian.Uint16(f.b))
	name, f.b = f.b[2:2+n], f.b[2+n:]
	var l int
	if f.vlen == 2 {
		l = int(binary.LittleEndian.Uint16(f.b))
	} else {
		l = int(binary.LittleEndian.Uint32(f.b))
	}
	value, f.b = f.b[f.vlen:f.vlen+l], f.b[f.vlen+l:]
	return name, value, true
}

// ageAt is the entry's age at now, in seconds (RFC 9111 §4.2.3).
func (e *entry) ageAt(now time.Time) int64 {
	return max(0, now.UnixNano()-e.stored)/int64(time.Second) + int64(e.age)
}

// encoder builds an entry.
type encoder struct {
	b                 []byte
	nVary, nHeaders   int
	varyAt, headersAt int
}

func newEncoder(kind byte, status int, stored, fresh, stale time.Time, age uint32) *encoder {
	b := make([]byte, headLen, 512)
	b[0], b[1] = magic, kind
	binary.LittleEndian.PutUint16(b[2:], uint16(status))
	binary.LittleEndian.PutUint64(b[4:], uint64(stored.UnixNano()))
	binary.LittleEndian.PutUint64(b[12:], uint64(fresh.UnixNano()))
	binary.LittleEndian.PutUint64(b[20:], uint64(stale.UnixNano()))
	binary.LittleEndian.PutUint32(b[28:], age)
	e := &encoder{b: b, varyAt: headLen}
	e.b = append(e.b, 0, 0)
	return e
}

// vary adds a header the entry varies on, with the request's value. Call
// it before header.
func (e *encoder) vary(name, value []byte) {
	e.nVary++
	e.b = binary.LittleEndian.AppendUint16(e.b, uint16(len(name)))
	e.b = append(e.b, name...)
	e.b = binary.LittleEndian.AppendUint16(e.b, uint16(len(value)))
	e.b = append(e.b, value...)
}

// header adds a response header.
func (e *encoder) header(name, value []byte) {
	if e.headersAt == 0 {
		e.headersAt = len(e.b)
		e.b = append(e.b, 0, 0)
	}
	e.nHeaders++
	e.b = binary.LittleEndian.AppendUint16(e.b, uint16(len(name)))
	e.b = append(e.b, name...)
	e.b = binary.LittleEndian.AppendUint32(e.b, uint32(len(value)))
	e.b = append(e.b, value...)
}

// finish appends body and returns the entry.
func (e *encoder) finish(body []byte) []byte {
	if e.headersAt == 0 {
		e.headersAt = len(e.b)
		e.b = append(e.b, 0, 0)
	}
	binary.LittleEndian.PutUint16(e.b[e.varyAt:], uint16(e.nVary))
	binary.LittleEndian.PutUint16(e.b[e.headersAt:], uint16(e.nHeaders))
	return append(e.b, body...)
}
