package quic

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Wire format (protocol version 1, ALPN "dfaas-peer/1").
//
// Every stream carries frames: a 1-byte type, a 4-byte big-endian payload
// length, and the payload. The dialer of a connection opens one
// bidirectional control stream and sends a hello; the listener answers
// with a hello; then both send ping, pong and members frames on it. Each
// application message travels alone on a unidirectional stream as one data
// frame followed by the end of the stream.
//
//	hello   version u16 | max message size u32
//	ping    nonce u64 | member digest u64
//	pong    nonce u64 | member digest u64
//	members count u16 (1..maxMembersPerFrame) | count × (public key [32] | address length u8 | address)
//	data    the message
//
// Decoding is strict: a payload must have exactly the length its type
// implies, addresses must be HOST:PORT, and nothing may follow the data
// frame on its stream.

// ProtocolVersion is the version of the peer protocol; it is also in the
// ALPN protocol name.
const ProtocolVersion = 1

// ALPN is the TLS application protocol negotiated by peers.
const ALPN = "dfaas-peer/1"

// Frame types.
const (
	frameHello   byte = 1
	framePing    byte = 2
	framePong    byte = 3
	frameMembers byte = 4
	frameData    byte = 5
)

const (
	frameHeaderLen     = 5
	maxControlFrame    = 64 << 10
	maxMembersPerFrame = 128
	helloLen           = 6
	pingLen            = 16
	readChunk          = 64 << 10
)

// Errors from frame decoding, wrapped with details; their reason for the
// drop counters is given by dropReason.
var (
	errOversize  = errors.New("frame larger than the limit")
	errMalformed = errors.New("malformed frame")
	errVersion   = errors.New("unknown frame type or version")
)

func dropReason(err error) string {
	switch {
	case errors.Is(err, errOversize):
		return DropOversize
	case errors.Is(err, errVersion):
		return DropVersion
	default:
		return DropMalformed
	}
}

// appendFrame appends a frame of type typ with payload p to b.
func appendFrame(b []byte, typ byte, p []byte) []byte {
	b = append(b, typ)
	b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
	return append(b, p...)
}

// readFrame reads one frame whose payload is at most limit bytes. It
// returns io.EOF only when r ends before the frame starts.
func readFrame(r io.Reader, limit int) (typ byte, payload []byte, err error) {
	var h [frameHeaderLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if err == io.EOF {
			return 0, nil, io.EOF
		}
		if err == io.ErrUnexpectedEOF {
			return 0, nil, fmt.Errorf("%w: truncated header", errMalformed)
		}
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(h[1:])
	if uint64(n) > uint64(limit) {
		return h[0], nil, fmt.Errorf("%w: %d bytes, limit %d", errOversize, n, limit)
	}
	truncated := func(err error) error {
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return fmt.Errorf("%w: truncated payload (%d bytes announced)", errMalformed, n)
		}
		return err
	}
	if n <= readChunk {
		payload = make([]byte, n)
		if _, err := io.ReadFull(r, payload); err != nil {
			return h[0], nil, truncated(err)
		}
		return h[0], payload, nil
	}
	// A large frame's memory grows with the bytes that actually arrive,
	// not with the length a peer announces.
	var buf bytes.Buffer
	buf.Grow(readChunk)
	if m, err := io.CopyN(&buf, r, int64(n)); m != int64(n) {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return h[0], nil, truncated(err)
	}
	return h[0], buf.Bytes(), nil
}

// hello is the first frame on a control stream in each direction.
type hello struct {
	Version    uint16
	MaxMessage uint32
}

func (h hello) append(b []byte) []byte {
	p := binary.BigEndian.AppendUint16(make([]byte, 0, helloLen), h.Version)
	p = binary.BigEndian.AppendUint32(p, h.MaxMessage)
	return appendFrame(b, frameHello, p)
}

func decodeHello(p []byte) (hello, error) {
	if len(p) != helloLen {
		return hello{}, fmt.Errorf("%w: hello has %d bytes, want %d", errMalformed, len(p), helloLen)
	}
	h := hello{Version: binary.BigEndian.Uint16(p), MaxMessage: binary.BigEndian.Uint32(p[2:])}
	if h.Version != ProtocolVersion {
		return hello{}, fmt.Errorf("%w: protocol version %d, want %d", errVersion, h.Version, ProtocolVersion)
	}
	if h.MaxMessage < 1024 {
		return hello{}, fmt.Errorf("%w: hello: max message size %d is below 1024", errMalformed, h.MaxMessage)
	}
	return h, nil
}

// ping is a ping or a pong: a pong echoes the nonce of the ping it answers.
// Both carry the digest of the sender's view of the membership.
type ping struct {
	Nonce  uint64
	Digest uint64
}

func (p ping) append(b []byte, typ byte) []byte {
	q := binary.BigEndian.AppendUint64(make([]byte, 0, pingLen), p.Nonce)
	q = binary.BigEndian.AppendUint64(q, p.Digest)
	return appendFrame(b, typ, q)
}

func decodePing(p []byte) (ping, error) {
	if len(p) != pingLen {
		return ping{}, fmt.Errorf("%w: ping has %d bytes, want %d", errMalformed, len(p), pingLen)
	}
	return ping{Nonce: binary.BigEndian.Uint64(p), Digest: binary.BigEndian.Uint64(p[8:])}, nil
}

// memberEntry is a member in a members frame: its public key (from which
// its ID derives) and its address.
type memberEntry struct {
	Key      [ed25519.PublicKeySize]byte
	HostPort string
}

// appendMembers appends members frames for ms, at most maxMembersPerFrame
// each. Entries with an address too long to encode are skipped.
func appendMembers(b []byte, ms []memberEntry) []byte {
	for len(ms) > 0 {
		n := min(len(ms), maxMembersPerFrame)
		p := make([]byte, 2, 2+n*(ed25519.PublicKeySize+1+24))
		count := 0
		for _, m := range ms[:n] {
			if len(m.HostPort) > maxHostPort {
				continue
			}
			p = append(p, m.Key[:]...)
			p = append(p, byte(len(m.HostPort)))
			p = append(p, m.HostPort...)
			count++
		}
		if count > 0 {
			binary.BigEndian.PutUint16(p, uint16(count))
			b = appendFrame(b, frameMembers, p)
		}
		ms = ms[n:]
	}
	return b
}

func decodeMembers(p []byte) ([]memberEntry, error) {
	if len(p) < 2 {
		return nil, fmt.Errorf("%w: members frame has %d bytes", errMalformed, len(p))
	}
	n := int(binary.BigEndian.Uint16(p))
	if n == 0 || n > maxMembersPerFrame {
		return nil, fmt.Errorf("%w: members frame lists %d members, want 1..%d", errMalformed, n, maxMembersPerFrame)
	}
	p = p[2:]
	out := make([]memberEntry, n)
	for i := range out {
		if len(p) < ed25519.PublicKeySize+1 {
			return nil, fmt.Errorf("%w: members frame: entry %d truncated", errMalformed, i)
		}
		copy(out[i].Key[:], p)
		l := int(p[ed25519.PublicKeySize])
		p = p[ed25519.PublicKeySize+1:]
		if len(p) < l {
			return nil, fmt.Errorf("%w: members frame: entry %d address truncated", errMalformed, i)
		}
		hp, err := checkHostPort(string(p[:l]))
		if err != nil {
			return nil, fmt.Errorf("%w: members frame: entry %d: %v", errMalformed, i, err)
		}
		out[i].HostPort = hp
		p = p[l:]
	}
	if len(p) != 0 {
		return nil, fmt.Errorf("%w: members frame: %d bytes after the last entry", errMalformed, len(p))
	}
	return out, nil
}

// readData reads a data stream: one data frame of at most limit bytes,
// then the end of the stream.
func readData(r io.Reader, limit int) ([]byte, error) {
	typ, p, err := readFrame(r, limit)
	if err == io.EOF {
		return nil, fmt.Errorf("%w: empty data stream", errMalformed)
	}
	if err != nil {
		return nil, err
	}
	if typ != frameData {
		return nil, fmt.Errorf("%w: frame type %d on a data stream", errVersion, typ)
	}
	var one [1]byte
	if n, err := io.ReadFull(r, one[:]); n != 0 || err != io.EOF {
		if err != nil && err != io.ErrUnexpectedEOF && n == 0 {
			return nil, err
		}
		return nil, fmt.Errorf("%w: data after the data frame", errMalformed)
	}
	return p, nil
}
