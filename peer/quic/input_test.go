package quic

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	quicgo "github.com/quic-go/quic-go"
)

// memberConn dials tr by hand as a member (tr runs in the lab setting)
// and completes the hello exchange.
func memberConn(t *testing.T, tr *Transport) (*quicgo.Conn, *quicgo.Stream) {
	t.Helper()
	qc, err := rawDial(t, tr, mustKey(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ctrl, err := qc.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ctrl.Write(hello{Version: ProtocolVersion, MaxMessage: 1 << 16}.append(nil)); err != nil {
		t.Fatal(err)
	}
	ctrl.SetReadDeadline(time.Now().Add(2 * time.Second))
	if typ, _, err := readFrame(ctrl, maxControlFrame); err != nil || typ != frameHello {
		t.Fatalf("hello reply: type %d, %v", typ, err)
	}
	ctrl.SetReadDeadline(time.Time{})
	return qc, ctrl
}

func sendRaw(t *testing.T, qc *quicgo.Conn, b []byte) {
	t.Helper()
	s, err := qc.OpenUniStreamSync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	s.Write(b)
	s.Close()
}

func header(typ byte, n uint32) []byte {
	return binary.BigEndian.AppendUint32([]byte{typ}, n)
}

func waitDropped(t *testing.T, tr *Transport, reason string, want uint64) {
	t.Helper()
	eventually(t, 5*time.Second, "drop counted as "+reason, func() bool { return tr.Stats().Dropped[reason] >= want })
}

func TestMalformedMessagesDropped(t *testing.T) {
	tr := listen(t, fastConfig(t, mustKey(t)))
	qc, _ := memberConn(t, tr)
	tests := []struct {
		name, reason string
		data         []byte
	}{
		{"oversize", DropOversize, header(frameData, DefaultMaxMessageSize+1)},
		{"huge length", DropOversize, header(frameData, 1<<32-1)},
		{"truncated header", DropMalformed, []byte{frameData, 0, 0}},
		{"truncated payload", DropMalformed, append(header(frameData, 10), "short"...)},
		{"trailing data", DropMalformed, append(appendFrame(nil, frameData, []byte("ok")), 'x')},
		{"empty stream", DropMalformed, nil},
		{"control frame on data stream", DropVersion, ping{}.append(nil, framePing)},
		{"unknown type", DropVersion, appendFrame(nil, 99, []byte("?"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tr.Stats().Dropped[tt.reason]
			sendRaw(t, qc, tt.data)
			waitDropped(t, tr, tt.reason, before+1)
		})
	}
	// The connection still carries good messages.
	sendRaw(t, qc, appendFrame(nil, frameData, []byte("good")))
	expectMessage(t, tr, "good", 5*time.Second)
	noMessage(t, tr, 100*time.Millisecond)
}

func TestMalformedControlFrames(t *testing.T) {
	tr := listen(t, fastConfig(t, mustKey(t)))
	qc, ctrl := memberConn(t, tr)
	// Frames that are well delimited are dropped one by one.
	for _, tt := range []struct {
		reason string
		frame  []byte
	}{
		{DropVersion, appendFrame(nil, 77, []byte("future"))},
		{DropMalformed, appendFrame(nil, framePing, []byte("short"))},
		{DropMalformed, appendFrame(nil, frameMembers, []byte{0, 1, 2})},
		{DropMalformed, hello{Version: 1, MaxMessage: 4096}.append(nil)},
	} {
		before := tr.Stats().Dropped[tt.reason]
		if _, err := ctrl.Write(tt.frame); err != nil {
			t.Fatal(err)
		}
		waitDropped(t, tr, tt.reason, before+1)
	}
	if qc.Context().Err() != nil {
		t.Fatal("connection closed after droppable frames")
	}
	// An oversized control frame breaks the framing: the connection is
	// closed.
	before := tr.Stats().Dropped[DropOversize]
	ctrl.Write(header(frameMembers, maxControlFrame+1))
	waitDropped(t, tr, DropOversize, before+1)
	select {
	case <-qc.Context().Done():
	case <-time.After(5 * time.Second):
		t.Fatal("connection not closed after an oversized control frame")
	}
}

func TestBadHello(t *testing.T) {
	tr := listen(t, fastConfig(t, mustKey(t)))
	for _, tt := range []struct {
		name, reason string
		frame        []byte
	}{
		{"version 2", DropVersion, hello{Version: 2, MaxMessage: 4096}.append(nil)},
		{"tiny limit", DropMalformed, hello{Version: 1, MaxMessage: 10}.append(nil)},
		{"ping first", DropMalformed, ping{}.append(nil, framePing)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			qc, err := rawDial(t, tr, mustKey(t), nil)
			if err != nil {
				t.Fatal(err)
			}
			ctrl, err := qc.OpenStreamSync(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			before := tr.Stats()
			ctrl.Write(tt.frame)
			waitDropped(t, tr, tt.reason, before.Dropped[tt.reason]+1)
			select {
			case <-qc.Context().Done():
			case <-time.After(5 * time.Second):
				t.Fatal("connection not closed after a bad hello")
			}
			if got := tr.Stats().Rejected[RejectHandshake]; got != before.Rejected[RejectHandshake]+1 {
				t.Fatalf("handshake rejections %d, want %d", got, before.Rejected[RejectHandshake]+1)
			}
		})
	}
	if n := len(tr.Peers()); n != 0 {
		t.Fatalf("%d peers registered after bad hellos", n)
	}
}

func TestRateLimit(t *testing.T) {
	c := fastConfig(t, mustKey(t))
	c.RateMessages, c.RateBurst = 20, 10
	tr := listen(t, c)
	qc, _ := memberConn(t, tr)
	const sent = 100
	start := time.Now()
	for range sent {
		sendRaw(t, qc, appendFrame(nil, frameData, []byte("flood")))
	}
	eventually(t, 5*time.Second, "all messages accounted for", func() bool {
		st := tr.Stats()
		return st.Received+st.Dropped[DropRate] == sent
	})
	elapsed := time.Since(start).Seconds()
	st := tr.Stats()
	if limit := uint64(float64(c.RateBurst) + elapsed*c.RateMessages + 1); st.Received > limit {
		t.Fatalf("delivered %d messages in %.2fs, limit %d", st.Received, elapsed, limit)
	}
	if st.Dropped[DropRate] == 0 {
		t.Fatal("no message dropped for rate")
	}
}
