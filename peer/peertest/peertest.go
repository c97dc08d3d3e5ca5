package peertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/peer"
)

// MakeNetwork returns n transports that can all reach each other now (a
// Directory lists every other one as up). It registers their clean-up
// with t.Cleanup; the suite may Close some of them first.
type MakeNetwork func(t *testing.T, n int) []peer.Transport

// Options describe the transport under test.
type Options struct {
	// MaxMessageSize is the transport's message size limit: a message of
	// that size must be delivered and a larger one refused with
	// peer.ErrTooLarge. If zero, the limit is not tested.
	MaxMessageSize int
	// Buffer is the capacity of the transports' Recv channels. If zero,
	// the full-receiver test sends 2048 messages.
	Buffer int
	// Timeout bounds every wait of the suite. If zero, 10s.
	Timeout time.Duration
}

// TestTransport runs the conformance suite, each test on a fresh network
// from mk.
func TestTransport(t *testing.T, mk MakeNetwork, opts Options) {
	if opts.Timeout == 0 {
		opts.Timeout = 10 * time.Second
	}
	s := suite{mk: mk, opts: opts}
	tests := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"LocalID", s.testLocalID},
		{"SendRecv", s.testSendRecv},
		{"ReceiverOwnsData", s.testReceiverOwnsData},
		{"AllPairs", s.testAllPairs},
		{"Concurrent", s.testConcurrent},
		{"MaxMessageSize", s.testMaxMessageSize},
		{"UnknownPeer", s.testUnknownPeer},
		{"DoneContext", s.testDoneContext},
		{"FullReceiver", s.testFullReceiver},
		{"Close", s.testClose},
		{"Directory", s.testDirectory},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.fn)
	}
}

type suite struct {
	mk   MakeNetwork
	opts Options
}

func (s suite) ctx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.Timeout)
	t.Cleanup(cancel)
	return ctx
}

// recv waits for one message on tr.
func (s suite) recv(t *testing.T, tr peer.Transport) peer.Message {
	t.Helper()
	select {
	case m, ok := <-tr.Recv():
		if !ok {
			t.Fatalf("%s: Recv closed", tr.LocalID())
		}
		return m
	case <-time.After(s.opts.Timeout):
		t.Fatalf("%s: no message within %v", tr.LocalID(), s.opts.Timeout)
	}
	return peer.Message{}
}

func (s suite) testLocalID(t *testing.T) {
	ts := s.mk(t, 3)
	seen := map[peer.ID]bool{}
	for _, tr := range ts {
		id := tr.LocalID()
		if id == "" {
			t.Fatal("empty LocalID")
		}
		if seen[id] {
			t.Fatalf("LocalID %q twice", id)
		}
		seen[id] = true
		if tr.LocalID() != id {
			t.Fatal("LocalID changed")
		}
	}
}

func (s suite) testSendRecv(t *testing.T) {
	ts := s.mk(t, 2)
	a, b := ts[0], ts[1]
	ctx := s.ctx(t)
	for _, dir := range [][2]peer.Transport{{a, b}, {b, a}} {
		from, to := dir[0], dir[1]
		data := []byte("hello from " + string(from.LocalID()))
		if err := from.Send(ctx, to.LocalID(), data); err != nil {
			t.Fatalf("Send: %v", err)
		}
		m := s.recv(t, to)
		if m.From != from.LocalID() || !bytes.Equal(m.Data, data) {
			t.Fatalf("got %q from %s, want %q from %s", m.Data, m.From, data, from.LocalID())
		}
	}
	// An empty message is a message.
	if err := a.Send(ctx, b.LocalID(), nil); err != nil {
		t.Fatalf("Send(empty): %v", err)
	}
	if m := s.recv(t, b); len(m.Data) != 0 || m.From != a.LocalID() {
		t.Fatalf("empty message arrived as %q from %s", m.Data, m.From)
	}
}

func (s suite) testReceiverOwnsData(t *testing.T) {
	ts := s.mk(t, 2)
	a, b := ts[0], ts[1]
	data := []byte("original")
	if err := a.Send(s.ctx(t), b.LocalID(), data); err != nil {
		t.Fatal(err)
	}
	copy(data, "CHANGED!")
	m := s.recv(t, b)
	if string(m.Data) != "original" {
		t.Fatalf("got %q: the transport kept the sender's buffer", m.Data)
	}
}

func (s suite) testAllPairs(t *testing.T) {
	const n = 4
	ts := s.mk(t, n)
	ctx := s.ctx(t)
	for _, from := range ts {
		for _, to := range ts {
			if from == to {
				continue
			}
			if err := from.Send(ctx, to.LocalID(), []byte(fmt.Sprintf("%s>%s", from.LocalID(), to.LocalID()))); err != nil {
				t.Fatalf("Send %s to %s: %v", from.LocalID(), to.LocalID(), err)
			}
		}
	}
	for _, to := range ts {
		var from []peer.ID
		for range n - 1 {
			m := s.recv(t, to)
			if want := fmt.Sprintf("%s>%s", m.From, to.LocalID()); string(m.Data) != want {
				t.Fatalf("%s got %q from %s, want %q", to.LocalID(), m.Data, m.From, want)
			}
			from = append(from, m.From)
		}
		slices.Sort(from)
		if len(slices.Compact(from)) != n-1 {
			t.Fatalf("%s got messages from %v, want %d distinct senders", to.LocalID(), from, n-1)
		}
	}
}

func (s suite) testConcurrent(t *testing.T) {
	// At most a channel's worth, so that a transport that drops when its
	// receiver lags behind loses nothing.
	const senders = 4
	each := 25
	if s.opts.Buffer > 0 && s.opts.Buffer < senders*each {
		each = s.opts.Buffer / senders
	}
	ts := s.mk(t, 2)
	a, b := ts[0], ts[1]
	ctx := s.ctx(t)
	var wg sync.WaitGroup
	errs := make(chan error, senders*each)
	for g := range senders {
		wg.Go(func() {
			for i := range each {
				if err := a.Send(ctx, b.LocalID(), []byte(fmt.Sprintf("%d/%d", g, i))); err != nil {
					errs <- err
				}
			}
		})
	}
	got := map[string]bool{}
	for range senders * each {
		m := s.recv(t, b)
		if got[string(m.Data)] {
			t.Fatalf("message %q delivered twice", m.Data)
		}
		got[string(m.Data)] = true
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Send: %v", err)
	}
}

func (s suite) testMaxMessageSize(t *testing.T) {
	if s.opts.MaxMessageSize == 0 {
		t.Skip("no MaxMessageSize given")
	}
	ts := s.mk(t, 2)
	a, b := ts[0], ts[1]
	ctx := s.ctx(t)
	big := bytes.Repeat([]byte{0xa5}, s.opts.MaxMessageSize)
	big[0], big[len(big)-1] = 1, 2
	if err := a.Send(ctx, b.LocalID(), big); err != nil {
		t.Fatalf("Send of %d bytes (the limit): %v", len(big), err)
	}
	if m := s.recv(t, b); !bytes.Equal(m.Data, big) {
		t.Fatalf("message of %d bytes arrived as %d different bytes", len(big), len(m.Data))
	}
	err := a.Send(ctx, b.LocalID(), append(big, 0))
	if !errors.Is(err, peer.ErrTooLarge) {
		t.Fatalf("Send over the limit: err = %v, want peer.ErrTooLarge", err)
	}
}

func (s suite) testUnknownPeer(t *testing.T) {
	ts := s.mk(t, 2)
	err := ts[0].Send(s.ctx(t), "no-such-peer", []byte("x"))
	if !errors.Is(err, peer.ErrUnknownPeer) {
		t.Fatalf("Send to an unknown peer: err = %v, want peer.ErrUnknownPeer", err)
	}
}

func (s suite) testDoneContext(t *testing.T) {
	ts := s.mk(t, 2)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ts[0].Send(ctx, ts[1].LocalID(), []byte("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Send with a cancelled context: err = %v, want context.Canceled", err)
	}
	ctx, cancel = context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	if err := ts[0].Send(ctx, ts[1].LocalID(), []byte("x")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Send with an expired context: err = %v, want context.DeadlineExceeded", err)
	}
}

// A receiver that does not read makes the transport drop, not block its
// senders.
func (s suite) testFullReceiver(t *testing.T) {
	ts := s.mk(t, 2)
	a, b := ts[0], ts[1]
	n := 2048
	if s.opts.Buffer > 0 {
		n = s.opts.Buffer + 64
	}
	done := make(chan error, 1)
	go func() {
		ctx := s.ctx(t)
		for i := range n {
			if err := a.Send(ctx, b.LocalID(), []byte(fmt.Sprint(i))); err != nil {
				done <- fmt.Errorf("Send %d: %w", i, err)
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(s.opts.Timeout):
		t.Fatalf("%d Sends to a receiver that does not read took over %v", n, s.opts.Timeout)
	}
	// Let deliveries in flight settle, then the receiver still works.
	time.Sleep(100 * time.Millisecond)
	if got, c := len(b.Recv()), cap(b.Recv()); got > c {
		t.Fatalf("%d messages queued in a channel of %d", got, c)
	}
	for len(b.Recv()) > 0 {
		<-b.Recv()
	}
	if err := a.Send(s.ctx(t), b.LocalID(), []byte("after")); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(s.opts.Timeout)
	for {
		select {
		case m := <-b.Recv():
			if string(m.Data) == "after" {
				return
			}
		case <-deadline:
			t.Fatal("receiver got nothing after draining its channel")
		}
	}
}

func (s suite) testClose(t *testing.T) {
	ts := s.mk(t, 2)
	a, b := ts[0], ts[1]
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case _, ok := <-b.Recv():
		for ok {
			_, ok = <-b.Recv()
		}
	case <-time.After(s.opts.Timeout):
		t.Fatal("Recv not closed by Close")
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := b.Send(s.ctx(t), a.LocalID(), []byte("x")); !errors.Is(err, peer.ErrClosed) {
		t.Fatalf("Send after Close: err = %v, want peer.ErrClosed", err)
	}
	// Sending to a closed peer returns (an error or not) without hanging.
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctx, cancel := context.WithTimeout(context.Background(), s.opts.Timeout/2)
		defer cancel()
		for range 3 {
			a.Send(ctx, b.LocalID(), []byte("x"))
		}
	}()
	select {
	case <-done:
	case <-time.After(s.opts.Timeout):
		t.Fatal("Send to a closed peer hangs past its context")
	}
}

func (s suite) testDirectory(t *testing.T) {
	const n = 3
	ts := s.mk(t, n)
	if _, ok := ts[0].(peer.Directory); !ok {
		t.Skip("not a peer.Directory")
	}
	for _, tr := range ts {
		infos := tr.(peer.Directory).Peers()
		var ids []peer.ID
		for _, in := range infos {
			if in.ID == tr.LocalID() {
				t.Fatalf("%s lists itself", tr.LocalID())
			}
			if !in.Up {
				t.Errorf("%s lists %s as down", tr.LocalID(), in.ID)
			}
			if in.RTT < 0 {
				t.Errorf("%s lists %s with RTT %v", tr.LocalID(), in.ID, in.RTT)
			}
			ids = append(ids, in.ID)
		}
		if !slices.IsSorted(ids) {
			t.Errorf("%s: Peers not sorted by ID: %v", tr.LocalID(), ids)
		}
		if len(ids) != n-1 {
			t.Errorf("%s lists %d peers, want %d", tr.LocalID(), len(ids), n-1)
		}
	}
}
