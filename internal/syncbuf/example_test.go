package syncbuf_test

import (
	"fmt"
	"log/slog"

	"github.com/dfaas-go/dfaas/internal/syncbuf"
)

func ExampleBuffer() {
	var out syncbuf.Buffer
	log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}}))
	log.Info("started", "port", 8080)
	fmt.Print(out.String())
	// Output: level=INFO msg=started port=8080
}
