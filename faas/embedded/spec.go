package embedded

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseFunction parses a function's specification as the command line
// writes it: NAME[,handler=H][,capacity=N][,concurrency=N][,queue=N]
// [,queue_timeout=D][,web=BOOL]. It checks the form, not the values:
// New validates those.
func ParseFunction(spec string) (Function, error) {
	parts := strings.Split(spec, ",")
	fn := Function{Name: strings.TrimSpace(parts[0])}
	for _, kv := range parts[1:] {
		k, val, ok := strings.Cut(kv, "=")
		if !ok {
			return Function{}, fmt.Errorf("%q: want key=value after the name, got %q", spec, kv)
		}
		if err := fn.set(strings.TrimSpace(k), val); err != nil {
			return Function{}, fmt.Errorf("%q: %s: %w", spec, k, err)
		}
	}
	return fn, nil
}

// set sets the field of fn that key names.
func (fn *Function) set(key, val string) error {
	var err error
	switch key {
	case "handler":
		fn.Handler = val
	case "capacity":
		fn.Capacity, err = strconv.ParseFloat(val, 64)
	case "concurrency":
		fn.Concurrency, err = strconv.Atoi(val)
	case "queue":
		fn.Queue, err = strconv.Atoi(val)
	case "queue_timeout":
		fn.QueueTimeout, err = time.ParseDuration(val)
	case "web":
		var web bool
		if web, err = strconv.ParseBool(val); err == nil {
			fn.Annotations = map[string]string{"web-export": strconv.FormatBool(web)}
		}
	default:
		return fmt.Errorf("unknown key (known: handler, capacity, concurrency, queue, queue_timeout, web)")
	}
	return err
}
