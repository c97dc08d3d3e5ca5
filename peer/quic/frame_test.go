package quic

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

func testMembers(t testing.TB, n int) []memberEntry {
	var es []memberEntry
	for i := range n {
		k, err := NewKeyFromSeed(bytes.Repeat([]byte{byte(i + 1)}, 32))
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, memberEntry{Key: [32]byte(k.Public()), HostPort: "10.0.0.1:7000"})
	}
	return es
}

func TestFrameRoundTrip(t *testing.T) {
	var b []byte
	b = hello{Version: ProtocolVersion, MaxMessage: 4096}.append(b)
	b = ping{Nonce: 7, Digest: 9}.append(b, framePing)
	b = ping{Nonce: 8, Digest: 10}.append(b, framePong)
	b = appendMembers(b, testMembers(t, 3))
	r := iotest.OneByteReader(bytes.NewReader(b))

	typ, p, err := readFrame(r, maxControlFrame)
	if h, err2 := decodeHello(p); err != nil || err2 != nil || typ != frameHello || h != (hello{1, 4096}) {
		t.Fatalf("hello: %d %+v %v %v", typ, h, err, err2)
	}
	typ, p, err = readFrame(r, maxControlFrame)
	if pg, err2 := decodePing(p); err != nil || err2 != nil || typ != framePing || pg != (ping{7, 9}) {
		t.Fatalf("ping: %d %+v %v %v", typ, pg, err, err2)
	}
	typ, p, err = readFrame(r, maxControlFrame)
	if pg, err2 := decodePing(p); err != nil || err2 != nil || typ != framePong || pg != (ping{8, 10}) {
		t.Fatalf("pong: %d %+v %v %v", typ, pg, err, err2)
	}
	typ, p, err = readFrame(r, maxControlFrame)
	es, err2 := decodeMembers(p)
	if err != nil || err2 != nil || typ != frameMembers || !reflect.DeepEqual(es, testMembers(t, 3)) {
		t.Fatalf("members: %d %+v %v %v", typ, es, err, err2)
	}
	if _, _, err := readFrame(r, maxControlFrame); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

func TestMembersSplitIntoFrames(t *testing.T) {
	want := testMembers(t, 2*maxMembersPerFrame+5)
	b := appendMembers(nil, want)
	r := bytes.NewReader(b)
	var got []memberEntry
	frames := 0
	for {
		typ, p, err := readFrame(r, maxControlFrame)
		if err == io.EOF {
			break
		}
		if err != nil || typ != frameMembers {
			t.Fatal(typ, err)
		}
		es, err := decodeMembers(p)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, es...)
		frames++
	}
	if frames != 3 || !reflect.DeepEqual(got, want) {
		t.Fatalf("%d frames, %d entries; want 3 frames, %d entries", frames, len(got), len(want))
	}
	// Entries that cannot be encoded are skipped.
	if b := appendMembers(nil, []memberEntry{{HostPort: strings.Repeat("h", 300) + ":1"}}); len(b) != 0 {
		t.Fatalf("a bad entry gave %d bytes", len(b))
	}
}

func TestDecodeErrors(t *testing.T) {
	pub := testMembers(t, 1)[0].Key[:]
	entry := func(addr string) []byte {
		return append(append(append([]byte{0, 1}, pub...), byte(len(addr))), addr...)
	}
	tests := []struct {
		name   string
		decode func([]byte) error
		in     []byte
		want   error
	}{
		{"hello short", func(p []byte) error { _, err := decodeHello(p); return err }, []byte{0, 1}, errMalformed},
		{"hello long", func(p []byte) error { _, err := decodeHello(p); return err }, make([]byte, 7), errMalformed},
		{"hello version 0", func(p []byte) error { _, err := decodeHello(p); return err }, []byte{0, 0, 0, 1, 0, 0}, errVersion},
		{"ping short", func(p []byte) error { _, err := decodePing(p); return err }, make([]byte, 15), errMalformed},
		{"members empty", func(p []byte) error { _, err := decodeMembers(p); return err }, nil, errMalformed},
		{"members zero", func(p []byte) error { _, err := decodeMembers(p); return err }, []byte{0, 0}, errMalformed},
		{"members too many", func(p []byte) error { _, err := decodeMembers(p); return err }, []byte{0xff, 0xff}, errMalformed},
		{"members truncated", func(p []byte) error { _, err := decodeMembers(p); return err }, entry("h:1")[:20], errMalformed},
		{"members bad addr", func(p []byte) error { _, err := decodeMembers(p); return err }, entry("no-port"), errMalformed},
		{"members port 0", func(p []byte) error { _, err := decodeMembers(p); return err }, entry("h:0"), errMalformed},
		{"members control char", func(p []byte) error { _, err := decodeMembers(p); return err }, entry("h\x00:1"), errMalformed},
		{"members trailing", func(p []byte) error { _, err := decodeMembers(p); return err }, append(entry("h:1"), 0), errMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.decode(tt.in); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := decodeMembers(entry("h:1")); err != nil {
		t.Fatalf("good entry: %v", err)
	}
}

func TestReadLargeFrame(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 30000)
	b := appendFrame(nil, frameData, data)
	got, err := readData(bytes.NewReader(b), len(data))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("readData: %d bytes, %v", len(got), err)
	}
	if _, err := readData(bytes.NewReader(b[:len(b)-1]), len(data)); !errors.Is(err, errMalformed) {
		t.Fatalf("truncated large frame: %v", err)
	}
	if _, err := readData(bytes.NewReader(b), len(data)-1); !errors.Is(err, errOversize) {
		t.Fatalf("over the limit: %v", err)
	}
}

// FuzzReadFrame checks that any byte stream gives frames within the limit
// that re-encode to the bytes read, or an error, never a panic.
func FuzzReadFrame(f *testing.F) {
	f.Add(hello{Version: 1, MaxMessage: 4096}.append(nil))
	f.Add(ping{1, 2}.append(nil, framePing))
	f.Add(appendMembers(nil, testMembers(f, 2)))
	f.Add(appendFrame(nil, frameData, []byte("data")))
	f.Add([]byte{5, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		const limit = 1 << 12
		r := bytes.NewReader(in)
		consumed := 0
		for {
			typ, p, err := readFrame(r, limit)
			if err != nil {
				if err != io.EOF && !errors.Is(err, errMalformed) && !errors.Is(err, errOversize) {
					t.Fatalf("unexpected error kind: %v", err)
				}
				return
			}
			if len(p) > limit {
				t.Fatalf("payload of %d bytes over the limit %d", len(p), limit)
			}
			re := appendFrame(nil, typ, p)
			if !bytes.Equal(re, in[consumed:consumed+len(re)]) {
				t.Fatal("frame does not re-encode to its bytes")
			}
			consumed += len(re)
		}
	})
}

// FuzzControl decodes a payload as each control frame; whatever decodes
// must re-encode to the same bytes (strict, canonical decoding).
func FuzzControl(f *testing.F) {
	f.Add([]byte{0, 1, 0, 0, 16, 0})
	f.Add(make([]byte, pingLen))
	_, p, _ := readFrame(bytes.NewReader(appendMembers(nil, testMembers(f, 3))), maxControlFrame)
	f.Add(p)
	f.Fuzz(func(t *testing.T, p []byte) {
		if h, err := decodeHello(p); err == nil {
			if re := h.append(nil); !bytes.Equal(re[frameHeaderLen:], p) {
				t.Fatalf("hello %+v re-encodes differently", h)
			}
		}
		if pg, err := decodePing(p); err == nil {
			if re := pg.append(nil, framePing); !bytes.Equal(re[frameHeaderLen:], p) {
				t.Fatalf("ping %+v re-encodes differently", pg)
			}
		}
		if es, err := decodeMembers(p); err == nil {
			if len(es) == 0 || len(es) > maxMembersPerFrame {
				t.Fatalf("%d members decoded", len(es))
			}
			if re := appendMembers(nil, es); !bytes.Equal(re[frameHeaderLen:], p) {
				t.Fatalf("members %+v re-encode differently", es)
			}
		}
	})
}

// FuzzReadData reads a data stream.
func FuzzReadData(f *testing.F) {
	f.Add(appendFrame(nil, frameData, []byte("hello")))
	f.Add(append(appendFrame(nil, frameData, []byte("hello")), 0))
	f.Add(appendFrame(nil, framePing, make([]byte, pingLen)))
	f.Fuzz(func(t *testing.T, in []byte) {
		const limit = 1 << 12
		p, err := readData(bytes.NewReader(in), limit)
		if err != nil {
			return
		}
		if !bytes.Equal(appendFrame(nil, frameData, p), in) {
			t.Fatal("accepted a data stream that is not exactly one data frame")
		}
	})
}
