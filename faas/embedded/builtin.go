package embedded

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// handlerFunc is the code of a built-in function: it gets the request body
// and query and returns the response body. Errors become 400 responses.
type handlerFunc func(ctx context.Context, body []byte, q url.Values) ([]byte, error)

// Built-in function implementations, by name.
const (
	HandlerEcho   = "echo"   // returns the request body
	HandlerFiglet = "figlet" // renders the body (default "Hello World!") as a text banner
	HandlerShasum = "shasum" // SHA-256 of the body, as sha256sum prints it
	HandlerSleep  = "sleep"  // sleeps ?d=DURATION (default 100ms, at most 10s)
	HandlerCPU    = "cpu"    // burns CPU for ?ms=N milliseconds (default 10, at most 5000)
	HandlerMemory = "memory" // allocates and touches ?mb=N MiB (default 16, at most 512) for ?ms=N ms (default 100)
)

// Handlers returns the names of the built-in functions, sorted.
func Handlers() []string {
	return []string{HandlerCPU, HandlerEcho, HandlerFiglet, HandlerMemory, HandlerShasum, HandlerSleep}
}

func (s *Server) builtin(name string) (handlerFunc, bool) {
	switch name {
	case HandlerEcho:
		return func(_ context.Context, body []byte, _ url.Values) ([]byte, error) { return body, nil }, true
	case HandlerFiglet:
		return func(_ context.Context, body []byte, _ url.Values) ([]byte, error) {
			text := strings.TrimSpace(string(body))
			if text == "" {
				text = "Hello World!"
			}
			if len(text) > 256 {
				return nil, fmt.Errorf("figlet: text of %d bytes, at most 256", len(text))
			}
			return []byte(s.font.render(text)), nil
		}, true
	case HandlerShasum:
		return func(_ context.Context, body []byte, _ url.Values) ([]byte, error) {
			sum := sha256.Sum256(body)
			return []byte(hex.EncodeToString(sum[:]) + "  -\n"), nil
		}, true
	case HandlerSleep:
		return func(ctx context.Context, _ []byte, q url.Values) ([]byte, error) {
			d, err := durationParam(q, "d", 100*time.Millisecond, 10*time.Second)
			if err != nil {
				return nil, err
			}
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-t.C:
				return []byte(fmt.Sprintf("slept %v\n", d)), nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}, true
	case HandlerCPU:
		return func(ctx context.Context, _ []byte, q url.Values) ([]byte, error) {
			ms, err := intParam(q, "ms", 10, 5000)
			if err != nil {
				return nil, err
			}
			end := time.Now().Add(time.Duration(ms) * time.Millisecond)
			var h [32]byte
			n := 0
			for time.Now().Before(end) && ctx.Err() == nil {
				for range 256 {
					h = sha256.Sum256(h[:])
				}
				n += 256
			}
			return []byte(fmt.Sprintf("%d hashes in %dms: %x\n", n, ms, h[:4])), nil
		}, true
	case HandlerMemory:
		return func(ctx context.Context, _ []byte, q url.Values) ([]byte, error) {
			mb, err := intParam(q, "mb", 16, 512)
			if err != nil {
				return nil, err
			}
			ms, err := intParam(q, "ms", 100, 10000)
			if err != nil {
				return nil, err
			}
			buf := make([]byte, mb<<20)
			for i := 0; i < len(buf); i += 4096 {
				buf[i] = byte(i)
			}
			t := time.NewTimer(time.Duration(ms) * time.Millisecond)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			return []byte(fmt.Sprintf("held %d MiB for %dms (%d)\n", mb, ms, buf[len(buf)-4096])), nil
		}, true
	}
	return nil, false
}

func intParam(q url.Values, key string, def, maxV int) (int, error) {
	v := q.Get(key)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > maxV {
		return 0, fmt.Errorf("parameter %s=%q is not a whole number in [0, %d]", key, v, maxV)
	}
	return n, nil
}

func durationParam(q url.Values, key string, def, maxV time.Duration) (time.Duration, error) {
	v := q.Get(key)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 || d > maxV {
		return 0, fmt.Errorf("parameter %s=%q is not a duration in [0, %v]", key, v, maxV)
	}
	return d, nil
}
