// Package nodetlstest helps test the node-to-node path: data-plane
// certificates for tests, and a TCP relay that records every byte it
// carries (what a bystander on the path between two nodes sees).
package nodetlstest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/dfaas-go/dfaas/internal/nodetls"
)

// Cert returns a data-plane certificate named id for a new key, valid from
// now+from to now+to.
func Cert(t testing.TB, id string, from, to time.Duration) tls.Certificate {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return Reissue(t, priv, id, from, to)
}

// Reissue returns another certificate of the key priv.
func Reissue(t testing.TB, priv ed25519.PrivateKey, id string, from, to time.Duration) tls.Certificate {
	t.Helper()
	now := time.Now()
	c, err := nodetls.New(priv, id, now.Add(from), now.Add(to))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Relay accepts TCP connections and relays each to a target address,
// recording the bytes that pass in both directions.
type Relay struct {
	ln     net.Listener
	target string
	wg     sync.WaitGroup

	mu    sync.Mutex
	buf   bytes.Buffer
	conns []net.Conn
}

// maxRecord bounds what a Relay records.
const maxRecord = 64 << 20

// NewRelay starts a relay on a loopback port to target; it stops at the
// end of the test.
func NewRelay(t testing.TB, target string) *Relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &Relay{ln: ln, target: target}
	r.wg.Add(1)
	go r.accept()
	t.Cleanup(r.Close)
	return r
}

// Addr returns the relay's address, host:port.
func (r *Relay) Addr() string { return r.ln.Addr().String() }

// Recorded returns a copy of every byte relayed so far.
func (r *Relay) Recorded() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.buf.Bytes())
}

// Close stops the relay and closes its connections.
func (r *Relay) Close() {
	r.ln.Close()
	r.mu.Lock()
	for _, c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

func (r *Relay) accept() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		d := net.Dialer{Timeout: 5 * time.Second}
		u, err := d.DialContext(context.Background(), "tcp", r.target)
		if err != nil {
			c.Close()
			continue
		}
		r.mu.Lock()
		r.conns = append(r.conns, c, u)
		r.mu.Unlock()
		r.wg.Add(2)
		go r.pipe(u, c)
		go r.pipe(c, u)
	}
}

// pipe copies from src to dst, recording.
func (r *Relay) pipe(dst, src net.Conn) {
	defer r.wg.Done()
	b := make([]byte, 32<<10)
	for {
		n, err := src.Read(b)
		if n > 0 {
			r.mu.Lock()
			if r.buf.Len() < maxRecord {
				r.buf.Write(b[:n])
			}
			r.mu.Unlock()
			if _, werr := dst.Write(b[:n]); werr != nil {
				err = werr
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				if cw, ok := dst.(interface{ CloseWrite() error }); ok {
					cw.CloseWrite()
					return
				}
			}
			dst.Close()
			src.Close()
			return
		}
	}
}

// Refusal is one client of a node port and the answer it must get.
type Refusal struct {
	Name string
	// Cert is the client's certificate (nil: none).
	Cert *tls.Certificate
	// ID and Token are its DFaaS-Node-ID and credential headers.
	ID, Token string
	// Want is the status it must get; 0: the handshake is refused.
	Want int
}

// Refusals returns the clients every proxy's node port must tell apart:
// the member (its certificate member, its ID id and its credential good)
// served with 200; a non-member certificate, an expired certificate of
// the member's key and no certificate refused at the handshake; another
// member's certificate (other) claiming id, a wrong credential (bad) and
// no DFaaS-Node-ID answered 403.
func Refusals(t testing.TB, member, other *tls.Certificate, id, good, bad string) []Refusal {
	t.Helper()
	stranger := Cert(t, id, -time.Hour, time.Hour)
	expired := Reissue(t, member.PrivateKey.(ed25519.PrivateKey), id, -2*time.Hour, -time.Hour)
	return []Refusal{
		{"member", member, id, good, 200},
		{"non-member certificate", &stranger, id, good, 0},
		{"expired certificate of a member's key", &expired, id, good, 0},
		{"no certificate", nil, id, good, 0},
		{"member claiming another member's identity", other, id, good, 403},
		{"member with a wrong credential", member, id, bad, 403},
		{"member without DFaaS-Node-ID", member, "", good, 403},
	}
}
