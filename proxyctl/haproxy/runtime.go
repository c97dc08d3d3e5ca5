package haproxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/haproxytech/client-native/v6/models"
)

// runtimeAPI is the part of client-native's runtime client
// (github.com/haproxytech/client-native/v6/runtime.Runtime) the controller
// uses. Tests replace it with a fake.
type runtimeAPI interface {
	// ExecuteRaw sends one command line (commands separated by ';') and
	// returns HAProxy's answer.
	ExecuteRaw(command string) (string, error)
	// GetStats returns "show stat"; errors are in NativeStats.Error.
	GetStats() models.NativeStats
	// GetInfo returns "show info"; errors are in ProcessInfo.Error.
	GetInfo() (models.ProcessInfo, error)
}

// opKind is a kind of run-time change.
type opKind uint8

const (
	opState   opKind = iota // set server <backend>/<server> state <arg>
	opAddr                  // set server <backend>/<server> addr <arg> port <port>
	opMap                   // replace the content of map <mapName>
	opMaxConn               // set maxconn server <backend>/<server> <arg>
	opHealth                // set server <backend>/<server> health <arg>
)

// op is one run-time change.
type op struct {
	kind    opKind
	server  string // backend/server
	arg     string
	port    int
	mapName string
	content string
}

// command returns the runtime API command of a simple op (not opMap).
func (o op) command() string {
	switch o.kind {
	case opState:
		return "set server " + o.server + " state " + o.arg
	case opAddr:
		return "set server " + o.server + " addr " + o.arg + " port " + strconv.Itoa(o.port)
	case opMaxConn:
		return "set maxconn server " + o.server + " " + o.arg
	case opHealth:
		return "set server " + o.server + " health " + o.arg
	}
	return ""
}

// plan returns the changes that take HAProxy from run-time state prev to
// next, both in layout lay; prev nil means unknown (everything is set).
// The order keeps every request well routed in between: slots that lose
// their neighbour go to maintenance first (a request the route map still
// sends there is retried elsewhere); a joining neighbour gets its address,
// then its credentials (maps), and only then is made ready; the routes
// (maps fns, fallback, route) come last.
func plan(prev *desired, next desired, lay layout) []op {
	var ops []op
	changed := func(i int) bool {
		return prev == nil || i >= len(prev.slots) || prev.slots[i] != next.slots[i]
	}
	newNode := func(i int) bool {
		return prev == nil || i >= len(prev.slots) || prev.slots[i].node != next.slots[i].node
	}
	// 1. Slots whose neighbour leaves or changes: out of rotation.
	for i, sl := range next.slots {
		if changed(i) && (prev == nil || sl.node == "" || newNode(i) && i < len(prev.slots) && prev.slots[i].node != "") {
			for _, be := range []string{"out.", "once."} {
				ops = append(ops, op{kind: opState, server: be + slotName(i) + "/nb", arg: "maint"})
			}
		}
	}
	// 2. Addresses of joining (or moved) neighbours, taken as up (the
	// health of the slot's previous address does not carry over; a first
	// failed connection marks it down).
	for i, sl := range next.slots {
		if sl.node != "" && changed(i) {
			for _, be := range []string{"out.", "once."} {
				ops = append(ops, op{kind: opAddr, server: be + slotName(i) + "/nb", arg: sl.addr.Addr().String(), port: int(sl.addr.Port())})
			}
			ops = append(ops, op{kind: opHealth, server: "out." + slotName(i) + "/nb", arg: "up"})
		}
	}
	// 3. Maps.
	for _, name := range mapNames() {
		if prev == nil || prev.maps[name] != next.maps[name] {
			ops = append(ops, op{kind: opMap, mapName: name, content: next.maps[name]})
		}
	}
	// 4. Joining neighbours: into rotation.
	for i, sl := range next.slots {
		if sl.node != "" && changed(i) && newNode(i) {
			for _, be := range []string{"out.", "once."} {
				ops = append(ops, op{kind: opState, server: be + slotName(i) + "/nb", arg: "ready"})
			}
		}
	}
	// 5. Concurrency limits.
	fns := make([]string, 0, len(next.maxconn))
	for f, m := range next.maxconn {
		if prev == nil || prev.maxconn[f] != m {
			fns = append(fns, f)
		}
	}
	slices.Sort(fns)
	for _, f := range fns {
		ops = append(ops, op{kind: opMaxConn, server: "gw." + f + "/gw", arg: strconv.Itoa(next.maxconn[f])})
	}
	return ops
}

// maxBatch bounds the length of a command line sent at once (HAProxy reads
// a line into one buffer).
const maxBatch = 4096

// execute sends ops through rt: simple commands batched on one connection
// each (consecutive, up to maxBatch bytes), maps replaced atomically
// (prepare, add, commit). It stops at the first error.
func execute(ctx context.Context, rt runtimeAPI, o *settings, ops []op) error {
	var batch []string
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := runBatch(rt, batch)
		batch, size = batch[:0], 0
		return err
	}
	for _, x := range ops {
		if err := ctx.Err(); err != nil {
			return err
		}
		if x.kind == opMap {
			if err := flush(); err != nil {
				return err
			}
			if err := replaceMap(rt, o.mapPath(x.mapName), x.content); err != nil {
				return err
			}
			continue
		}
		c := x.command()
		if size+len(c)+1 > maxBatch {
			if err := flush(); err != nil {
				return err
			}
		}
		batch = append(batch, c)
		size += len(c) + 1
	}
	return flush()
}

// runtimeError is an error answered by the runtime API.
type runtimeError struct {
	command string
	message string
}

func (e *runtimeError) Error() string {
	return fmt.Sprintf("haproxy: runtime API: %q: %s", e.command, e.message)
}

// answerError returns the first error message in an answer of the runtime
// API (lines "[0]: " to "[3]: " under "set severity-output number"), or "".
func answerError(out string) string {
	for line := range strings.SplitSeq(out, "\n") {
		line = strings.TrimSpace(line)
		if len(line) >= 4 && line[0] == '[' && line[1] >= '0' && line[1] <= '3' && line[2] == ']' && line[3] == ':' {
			return strings.TrimSpace(line[4:])
		}
	}
	return ""
}

// runBatch runs commands on one connection. On an error answer it runs
// them again one by one (they are idempotent) to name the one that fails.
func runBatch(rt runtimeAPI, cmds []string) error {
	out, err := rt.ExecuteRaw(strings.Join(cmds, ";"))
	if err != nil {
		return fmt.Errorf("haproxy: runtime API: %w", err)
	}
	msg := answerError(out)
	if msg == "" {
		return nil
	}
	if len(cmds) > 1 {
		for _, c := range cmds {
			if err := runBatch(rt, []string{c}); err != nil {
				return err
			}
		}
	}
	return &runtimeError{command: strings.Join(cmds, ";"), message: msg}
}

// maxPayload bounds the payload of one "add map" command: HAProxy reads a
// command with its payload into one buffer (tune.bufsize, 16 KiB).
const maxPayload = 8 << 10

// replaceMap replaces the whole content of a map atomically: a new
// version is prepared, filled (in payloads of up to maxPayload bytes) and
// committed.
func replaceMap(rt runtimeAPI, path, content string) error {
	out, err := rt.ExecuteRaw("prepare map " + path)
	if err != nil {
		return fmt.Errorf("haproxy: runtime API: %w", err)
	}
	if msg := answerError(out); msg != "" {
		return &runtimeError{command: "prepare map " + path, message: msg}
	}
	version, err := parsePrepared(out)
	if err != nil {
		return fmt.Errorf("haproxy: runtime API: prepare map %s: %w", path, err)
	}
	for _, chunk := range chunkLines(content, maxPayload) {
		// A payload ends at an empty line; ExecuteRaw adds the final
		// newline.
		cmd := "add map @" + version + " " + path + " <<\n" + chunk
		out, err := rt.ExecuteRaw(cmd)
		if err != nil {
			return fmt.Errorf("haproxy: runtime API: %w", err)
		}
		if msg := answerError(out); msg != "" {
			return &runtimeError{command: "add map @" + version + " " + path, message: msg}
		}
	}
	cmd := "commit map @" + version + " " + path
	out, err = rt.ExecuteRaw(cmd)
	if err != nil {
		return fmt.Errorf("haproxy: runtime API: %w", err)
	}
	if msg := answerError(out); msg != "" {
		return &runtimeError{command: cmd, message: msg}
	}
	return nil
}

// chunkLines splits content (whole lines, each ending in a newline) into
// pieces of at most size bytes, at line ends (a longer line is a piece of
// its own).
func chunkLines(content string, size int) []string {
	var out []string
	for len(content) > 0 {
		end := len(content)
		if end > size {
			end = strings.LastIndexByte(content[:size], '\n') + 1
			if end == 0 {
				end = strings.IndexByte(content, '\n') + 1
				if end == 0 {
					end = len(content)
				}
			}
		}
		out = append(out, content[:end])
		content = content[end:]
	}
	return out
}

// parsePrepared extracts the version from the answer to "prepare map":
// "New version created: 3" (possibly after a severity prefix).
func parsePrepared(out string) (string, error) {
	const marker = "New version created:"
	i := strings.Index(out, marker)
	if i < 0 {
		return "", fmt.Errorf("unexpected answer %.80q", out)
	}
	v := strings.TrimSpace(out[i+len(marker):])
	if j := strings.IndexAny(v, " \n"); j >= 0 {
		v = v[:j]
	}
	if _, err := strconv.ParseUint(v, 10, 32); err != nil {
		return "", fmt.Errorf("unexpected version %.20q", v)
	}
	return v, nil
}

// workerPID returns the PID of the worker answering the runtime API.
func workerPID(rt runtimeAPI) (int, error) {
	info, err := rt.GetInfo()
	if err == nil && info.Error != "" {
		err = errors.New(info.Error)
	}
	if err != nil {
		return 0, fmt.Errorf("haproxy: runtime API: show info: %w", err)
	}
	if info.Info == nil || info.Info.Pid == nil || *info.Info.Pid <= 0 {
		return 0, errNoPID
	}
	return int(*info.Info.Pid), nil
}

// socketPID asks the runtime socket at path which worker answers it
// ("show info"), without client-native: it is used before the client
// exists and while a reload is in progress.
func socketPID(ctx context.Context, path string) (int, error) {
	out, err := masterCommand(ctx, path, "show info", time.Second)
	if err != nil {
		return 0, err
	}
	return parsePID(out)
}

// parsePID finds the "Pid: N" line of "show info".
func parsePID(out string) (int, error) {
	for line := range strings.SplitSeq(out, "\n") {
		if v, ok := strings.CutPrefix(line, "Pid:"); ok {
			pid, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || pid <= 0 {
				return 0, fmt.Errorf("haproxy: show info: bad Pid %.20q", v)
			}
			return pid, nil
		}
	}
	return 0, errNoPID
}

// masterCommand sends one command to the CLI socket at path (the master
// CLI, or a runtime socket) and returns the answer.
func masterCommand(ctx context.Context, path, cmd string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return "", fmt.Errorf("haproxy: master CLI: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	if _, err := conn.Write([]byte(cmd + ";quit\n")); err != nil {
		return "", fmt.Errorf("haproxy: master CLI: %s: %w", cmd, err)
	}
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
		if b.Len() > 1<<20 {
			return "", fmt.Errorf("haproxy: master CLI: %s: answer longer than 1 MiB", cmd)
		}
	}
	return b.String(), nil
}

// procStatus is what "show proc" on the master CLI says.
type procStatus struct {
	masterPID int
	reloads   int
	failed    int
	workers   []int // current workers (those with 0 reloads) first
}

// parseShowProc parses the answer to "show proc":
//
//	#<PID>          <type>          <reloads>       <uptime>        <version>
//	14190           master          1 [failed: 0]   0d00h10m33s     2.6.12
//	# workers
//	3706            worker          0               0d00h00m00s     2.6.12
//	# programs
func parseShowProc(out string) (procStatus, error) {
	var ps procStatus
	var current, old []int
	seenMaster := false
	for line := range strings.SplitSeq(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || strings.HasPrefix(f[0], "#") {
			continue
		}
		pid, err := strconv.Atoi(f[0])
		if err != nil || pid <= 0 {
			return procStatus{}, fmt.Errorf("show proc: bad PID in %.80q", line)
		}
		reloads, err := strconv.Atoi(f[2])
		if err != nil || reloads < 0 {
			return procStatus{}, fmt.Errorf("show proc: bad reload count in %.80q", line)
		}
		switch f[1] {
		case "master":
			ps.masterPID, ps.reloads, seenMaster = pid, reloads, true
			if len(f) >= 5 && f[3] == "[failed:" {
				n, err := strconv.Atoi(strings.TrimSuffix(f[4], "]"))
				if err != nil || n < 0 {
					return procStatus{}, fmt.Errorf("show proc: bad failed count in %.80q", line)
				}
				ps.failed = n
			}
		case "worker":
			if reloads == 0 {
				current = append(current, pid)
			} else {
				old = append(old, pid)
			}
		}
	}
	if !seenMaster {
		return procStatus{}, fmt.Errorf("show proc: no master in %.120q", out)
	}
	ps.workers = append(current, old...)
	return ps, nil
}
