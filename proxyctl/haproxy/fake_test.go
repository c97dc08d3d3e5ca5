package haproxy

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/haproxytech/client-native/v6/models"
)

// fakeRuntime is an in-memory runtime API that understands the commands
// the controller sends and records them.
type fakeRuntime struct {
	mu       sync.Mutex
	pid      int64
	commands []string // one per command, in order
	lines    int      // ExecuteRaw calls
	weights  map[string]int
	states   map[string]string
	addrs    map[string]string
	maxconn  map[string]int
	maps     map[string]string // committed content by path
	pending  map[string]string // "@v path" → content
	version  int
	failOn   string // a command containing this fails
	down     bool   // every call fails as if HAProxy were gone
	stats    []*models.NativeStat
	tables   map[string][]tableEntry
}

func newFakeRuntime() *fakeRuntime {
	return &fakeRuntime{
		pid: 100, weights: map[string]int{}, states: map[string]string{}, addrs: map[string]string{},
		maxconn: map[string]int{}, maps: map[string]string{}, pending: map[string]string{},
	}
}

var errFakeDown = errors.New("dial unix runtime.sock: connect: no such file or directory")

func (f *fakeRuntime) ExecuteRaw(line string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return "", errFakeDown
	}
	f.lines++
	// A map payload is the rest of the line after "<<".
	if head, payload, ok := strings.Cut(line, " <<\n"); ok {
		f.commands = append(f.commands, head)
		fs := strings.Fields(head) // add map @v path
		if len(fs) != 4 {
			return "[3]: bad payload command\n", nil
		}
		f.pending[fs[2]+" "+fs[3]] += payload
		return "\n", nil
	}
	var out strings.Builder
	for _, c := range strings.Split(line, ";") {
		f.commands = append(f.commands, c)
		if f.failOn != "" && strings.Contains(c, f.failOn) {
			out.WriteString("[3]: No such server.\n\n")
			continue
		}
		out.WriteString(f.run(c))
		out.WriteString("\n")
	}
	return out.String(), nil
}

func (f *fakeRuntime) run(c string) string {
	fs := strings.Fields(c)
	switch {
	case len(fs) == 5 && fs[0] == "set" && fs[1] == "server" && fs[3] == "weight":
		w, err := strconv.Atoi(fs[4])
		if err != nil || w < 0 || w > 256 {
			return "[3]: Absolute weight can only be between 0 and 256 inclusive.\n"
		}
		f.weights[fs[2]] = w
	case len(fs) == 5 && fs[0] == "set" && fs[1] == "server" && fs[3] == "state":
		f.states[fs[2]] = fs[4]
	case len(fs) == 7 && fs[0] == "set" && fs[1] == "server" && fs[3] == "addr":
		f.addrs[fs[2]] = fs[4] + ":" + fs[6]
		return "[4]: IP changed\n"
	case len(fs) == 5 && fs[0] == "set" && fs[1] == "server" && fs[3] == "health":
	case len(fs) == 5 && fs[0] == "set" && fs[1] == "maxconn" && fs[2] == "server":
		n, _ := strconv.Atoi(fs[4])
		f.maxconn[fs[3]] = n
	case len(fs) == 3 && fs[0] == "prepare" && fs[1] == "map":
		f.version++
		f.pending["@"+strconv.Itoa(f.version)+" "+fs[2]] = ""
		return "New version created: " + strconv.Itoa(f.version) + "\n"
	case len(fs) == 4 && fs[0] == "commit" && fs[1] == "map":
		content, ok := f.pending[fs[2]+" "+fs[3]]
		if !ok {
			return "[3]: Unknown version.\n"
		}
		f.maps[fs[3]] = content
		delete(f.pending, fs[2]+" "+fs[3])
	case len(fs) == 5 && fs[0] == "add" && fs[1] == "map":
		f.maps[fs[2]] += fs[3] + " " + fs[4] + "\n"
	case len(fs) == 3 && fs[0] == "show" && fs[1] == "table":
		return f.showTable(fs[2])
	case len(fs) == 2 && fs[0] == "show" && fs[1] == "info":
		return "Pid: " + strconv.FormatInt(f.pid, 10) + "\n"
	default:
		return "[3]: Unknown command: " + c + "\n"
	}
	return ""
}

func (f *fakeRuntime) GetStats() models.NativeStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return models.NativeStats{Error: errFakeDown.Error()}
	}
	return models.NativeStats{Stats: f.stats}
}

func (f *fakeRuntime) GetInfo() (models.ProcessInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return models.ProcessInfo{Error: errFakeDown.Error()}, nil
	}
	pid := f.pid
	return models.ProcessInfo{Info: &models.ProcessInfoItem{Pid: &pid}}, nil
}

// showTable answers "show table <name>" from f.tables.
func (f *fakeRuntime) showTable(name string) string {
	es, ok := f.tables[name]
	if !ok && name != "st_fn" && name != "st_out" && name != "st_in" && name != "st_other" {
		return "[3]: Unknown table.\n"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# table: %s, type: string, size:1024, used:%d\n", name, len(es))
	for i, e := range es {
		fmt.Fprintf(&b, "0x%x: key=%s use=0 exp=0", 1000+i, e.key)
		keys := make([]string, 0, len(e.fields))
		for k := range e.fields {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, " %s=%d", k, e.fields[k])
		}
		b.WriteString("\n")
	}
	return b.String()
}

// take returns the commands recorded since the last call.
func (f *fakeRuntime) take() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.commands
	f.commands = nil
	return c
}

// fakeResolver resolves names from a table.
type fakeResolver map[string]string

func (r fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	ip, ok := r[host]
	if !ok {
		return nil, fmt.Errorf("lookup %s: no such host", host)
	}
	return []netip.Addr{netip.MustParseAddr(ip)}, nil
}

// Interface guards.
var (
	_ runtimeAPI = (*fakeRuntime)(nil)
	_ resolver   = fakeResolver(nil)
)
