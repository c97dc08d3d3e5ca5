package sim

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/dfaas-go/dfaas/proxyctl"
	"github.com/dfaas-go/dfaas/strategy"
)

// Scenario describes a federation of DFaaS nodes, the functions each runs,
// the links between them and the load users send to each node over time.
// It is the JSON format of the scenario files (docs/scenarios.md in the
// repository): the same file drives dfaas sim and dfaas bench.
//
// A Scenario returned by ParseScenario or LoadScenario is valid and has
// its defaults filled in (period, concurrency, timeout, links).
type Scenario struct {
	// Name names the scenario in results.
	Name string `json:"name"`
	// Description is free text.
	Description string `json:"description,omitempty"`
	// Duration is the length of the run.
	Duration Duration `json:"duration"`
	// Period is the agents' control period. If zero, DefaultPeriod.
	Period Duration `json:"period,omitempty"`
	// Seed seeds every random choice of a run.
	Seed uint64 `json:"seed"`
	// QueueDepth bounds every function's queue on every node, as the
	// agent's --queue-depth does: at most ⌈QueueDepth × Concurrency⌉
	// requests wait (proxyctl.QueueCap); one more is refused at once
	// (429 queue-full, a rejection). If zero, proxyctl.DefaultQueueDepth;
	// negative means no cap (requests wait until their Timeout).
	QueueDepth float64 `json:"queue_depth,omitempty"`
	// Nodes are the nodes of the federation, with unique IDs.
	Nodes []Node `json:"nodes"`
	// Links are the undirected links of the data network. If empty, every
	// pair of nodes is linked with RTT DefaultRTT.
	Links []Link `json:"links,omitempty"`
	// Load is the user load; entries for the same node and function add
	// up.
	Load []Load `json:"load"`
}

// Node is one node of a scenario.
type Node struct {
	// ID names the node: 1 to 63 characters from [a-zA-Z0-9._-].
	ID string `json:"id"`
	// Functions are the functions deployed on the node.
	Functions []Function `json:"functions"`
}

// Function is a function deployed on a node.
type Function struct {
	// Name is the function's name.
	Name string `json:"name"`
	// Capacity is the rate (req/s) the function sustains on the node.
	Capacity float64 `json:"capacity"`
	// Concurrency is how many requests it runs at once. If zero,
	// DefaultConcurrency. The mean service time is Concurrency/Capacity.
	Concurrency int `json:"concurrency,omitempty"`
	// Timeout is how long a request may wait in the function's queue
	// before it fails. If zero, DefaultTimeout.
	Timeout Duration `json:"timeout,omitempty"`
}

// Link is an undirected link of the data network.
type Link struct {
	// A and B are the nodes it links.
	A string `json:"a"`
	B string `json:"b"`
	// RTT is the round-trip time a forwarded request pays.
	RTT Duration `json:"rtt"`
}

// Load is a stream of user requests for one function arriving at one node:
// Poisson arrivals at Rates[i] req/s during the i-th Step; the last rate
// holds after the last step.
type Load struct {
	// Node is where the requests arrive.
	Node string `json:"node"`
	// Function is the function they call.
	Function string `json:"function"`
	// Step is the length of each rate's interval. It may be zero (the
	// whole run) only when there is a single rate.
	Step Duration `json:"step,omitempty"`
	// Rates are the arrival rates, req/s, one per step.
	Rates []float64 `json:"rates"`
}

// Defaults of the scenario format.
const (
	DefaultPeriod      = 5 * time.Second
	DefaultConcurrency = 10
	DefaultTimeout     = time.Second
	DefaultRTT         = time.Millisecond
)

// Limits of the scenario format, which keep a run finite and its numbers
// meaningful.
const (
	MaxDuration    = 7 * 24 * time.Hour
	MinPeriod      = 10 * time.Millisecond
	MaxNodes       = 100_000
	MaxRate        = 1e7 // req/s, per load entry and per function capacity
	MaxConcurrency = 1_000_000
	MaxRTT         = time.Minute
	MaxTimeout     = time.Hour
	MaxScenarioLen = 64 << 20 // bytes of a scenario file
)

// ErrInvalidScenario is wrapped by every error about a scenario's content.
var ErrInvalidScenario = errors.New("invalid scenario")

// Duration is a time.Duration written in JSON as a Go duration string
// ("120s", "1m30s").
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON implements json.Unmarshaler. It accepts only a string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string such as \"5s\", not %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

// LoadScenario reads and parses the scenario file at path.
func LoadScenario(path string) (*Scenario, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxScenarioLen+1))
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", path, err)
	}
	s, err := ParseScenario(b)
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", path, err)
	}
	return s, nil
}

// ParseScenario decodes a scenario strictly (unknown fields, trailing data
// and wrong types are errors), validates it and fills in its defaults. An
// error names the offending element by its path, with indices, such as
// "nodes[1].functions[0].capacity".
func ParseScenario(b []byte) (*Scenario, error) {
	if len(b) > MaxScenarioLen {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalidScenario, MaxScenarioLen)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var s Scenario
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidScenario, describeJSONError(b, err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data after the JSON object", ErrInvalidScenario)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	s.fillDefaults()
	return &s, nil
}

// describeJSONError rewrites the decoder's error about b to name the
// element at fault by its path. encoding/json names a field without the
// indices of the arrays it is in ("nodes.functions.capacity") and an
// unknown field without its place, so b is decoded again, element by
// element, to find where; if that finds nothing the decoder's error is
// kept.
func describeJSONError(b []byte, err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := position(b, se.Offset-1) // Offset is just after the bad byte
		return fmt.Sprintf("JSON syntax error at line %d, column %d: %v", line, col, err)
	}
	if errors.Is(err, io.EOF) {
		return "empty input"
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of the JSON input"
	}
	var raw json.RawMessage
	if json.Unmarshal(b, &raw) == nil {
		if perr := decodeAt("", raw, reflect.ValueOf(new(Scenario)).Elem()); perr != nil {
			return perr.Error()
		}
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Sprintf("%s: cannot use JSON %s as %s", te.Field, te.Value, te.Type)
	}
	return strings.TrimPrefix(err.Error(), "json: ")
}

// position returns the line and column (from 1) of byte offset off of b.
func position(b []byte, off int64) (line, col int) {
	off = min(max(off, 0), int64(len(b)))
	before := b[:off]
	line = bytes.Count(before, []byte("\n")) + 1
	return line, int(off) - (bytes.LastIndexByte(before, '\n') + 1) + 1
}

// decodeAt decodes the JSON value b into v as encoding/json does with
// unknown fields disallowed, and returns the first error prefixed with the
// path of the element at fault (path is the path of v itself).
func decodeAt(path string, b json.RawMessage, v reflect.Value) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil // as encoding/json: null leaves the zero value
	}
	t := v.Type()
	switch {
	case t.Kind() == reflect.Struct && !reflect.PointerTo(t).Implements(reflect.TypeFor[json.Unmarshaler]()):
		return decodeObject(path, b, v)
	case t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.Uint8:
		if b[0] != '[' {
			return pathError(path, fmt.Errorf("want a JSON array, got %s", jsonKind(b)))
		}
		var elems []json.RawMessage
		if err := json.Unmarshal(b, &elems); err != nil {
			return pathError(path, err)
		}
		out := reflect.MakeSlice(t, len(elems), len(elems))
		for i, e := range elems {
			if err := decodeAt(fmt.Sprintf("%s[%d]", path, i), e, out.Index(i)); err != nil {
				return err
			}
		}
		v.Set(out)
		return nil
	}
	if err := json.Unmarshal(b, v.Addr().Interface()); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			err = fmt.Errorf("cannot use JSON %s as %s", te.Value, te.Type)
		}
		return pathError(path, err)
	}
	return nil
}

// decodeObject decodes the JSON object b into the struct v, field by field.
func decodeObject(path string, b json.RawMessage, v reflect.Value) error {
	if b[0] != '{' {
		return pathError(path, fmt.Errorf("want a JSON object, got %s", jsonKind(b)))
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return pathError(path, err)
	}
	// Keys in the order they appear, so that the first bad one is named.
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.Token() // {
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return pathError(path, err)
		}
		key, _ := tok.(string)
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return pathError(path, err)
		}
		i := fieldIndex(v.Type(), key)
		if i < 0 {
			return pathError(path, fmt.Errorf("unknown field %q", key))
		}
		sub := key
		if path != "" {
			sub = path + "." + key
		}
		if err := decodeAt(sub, fields[key], v.Field(i)); err != nil {
			return err
		}
	}
	return nil
}

// fieldIndex returns the index of the field of struct type t that the JSON
// key names (exactly, else ignoring case, as encoding/json matches), or -1.
func fieldIndex(t reflect.Type, key string) int {
	folded := -1
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if name == key {
			return i
		}
		if folded < 0 && strings.EqualFold(name, key) {
			folded = i
		}
	}
	return folded
}

// jsonKind names the kind of the JSON value b.
func jsonKind(b []byte) string {
	switch b[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	}
	return "a number"
}

func pathError(path string, err error) error {
	if path == "" {
		return err
	}
	return fmt.Errorf("%s: %w", path, err)
}

// Validate checks s and returns an error naming the first bad field. Zero
// values that have defaults are accepted.
func (s *Scenario) Validate() error {
	bad := func(field, format string, a ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalidScenario, field, fmt.Sprintf(format, a...))
	}
	if s.Name == "" {
		return bad("name", "required")
	}
	if err := validID(s.Name); err != nil {
		return bad("name", "%v", err)
	}
	if s.Duration <= 0 || s.Duration.D() > MaxDuration {
		return bad("duration", "%v is not in (0, %v]", s.Duration.D(), MaxDuration)
	}
	if s.Period < 0 || (s.Period > 0 && (s.Period.D() < MinPeriod || s.Period.D() > MaxDuration)) {
		return bad("period", "%v is not in [%v, %v]", s.Period.D(), MinPeriod, MaxDuration)
	}
	if math.IsNaN(s.QueueDepth) || math.IsInf(s.QueueDepth, 0) {
		return bad("queue_depth", "%v is not a number", s.QueueDepth)
	}
	if len(s.Nodes) == 0 {
		return bad("nodes", "at least one node is required")
	}
	if len(s.Nodes) > MaxNodes {
		return bad("nodes", "%d nodes, more than %d", len(s.Nodes), MaxNodes)
	}
	ids := make(map[string]int, len(s.Nodes))
	for i, n := range s.Nodes {
		field := fmt.Sprintf("nodes[%d]", i)
		if err := validID(n.ID); err != nil {
			return bad(field+".id", "%v", err)
		}
		if j, dup := ids[n.ID]; dup {
			return bad(field+".id", "%q already used by nodes[%d]", n.ID, j)
		}
		ids[n.ID] = i
		fns := map[string]int{}
		for k, f := range n.Functions {
			ff := fmt.Sprintf("%s.functions[%d]", field, k)
			if err := strategy.ValidName(f.Name); err != nil {
				return bad(ff+".name", "%v", err)
			}
			if j, dup := fns[f.Name]; dup {
				return bad(ff+".name", "%q already deployed by %s.functions[%d]", f.Name, field, j)
			}
			fns[f.Name] = k
			if !(f.Capacity > 0 && f.Capacity <= MaxRate) {
				return bad(ff+".capacity", "%v is not in (0, %v]", f.Capacity, MaxRate)
			}
			if f.Concurrency < 0 || f.Concurrency > MaxConcurrency {
				return bad(ff+".concurrency", "%d is not in [0, %d]", f.Concurrency, MaxConcurrency)
			}
			if f.Timeout < 0 || f.Timeout.D() > MaxTimeout {
				return bad(ff+".timeout", "%v is not in [0, %v]", f.Timeout.D(), MaxTimeout)
			}
		}
	}
	type pair struct{ a, b string }
	links := map[pair]int{}
	for i, l := range s.Links {
		field := fmt.Sprintf("links[%d]", i)
		if _, ok := ids[l.A]; !ok {
			return bad(field+".a", "unknown node %q", l.A)
		}
		if _, ok := ids[l.B]; !ok {
			return bad(field+".b", "unknown node %q", l.B)
		}
		if l.A == l.B {
			return bad(field+".b", "a link from %q to itself", l.A)
		}
		p := pair{min(l.A, l.B), max(l.A, l.B)}
		if j, dup := links[p]; dup {
			return bad(field, "%q-%q already linked by links[%d]", l.A, l.B, j)
		}
		links[p] = i
		if l.RTT < 0 || l.RTT.D() > MaxRTT {
			return bad(field+".rtt", "%v is not in [0, %v]", l.RTT.D(), MaxRTT)
		}
	}
	for i, l := range s.Load {
		field := fmt.Sprintf("load[%d]", i)
		if _, ok := ids[l.Node]; !ok {
			return bad(field+".node", "unknown node %q", l.Node)
		}
		if err := strategy.ValidName(l.Function); err != nil {
			return bad(field+".function", "%v", err)
		}
		if len(l.Rates) == 0 {
			return bad(field+".rates", "at least one rate is required")
		}
		for k, r := range l.Rates {
			if !(r >= 0 && r <= MaxRate) {
				return bad(fmt.Sprintf("%s.rates[%d]", field, k), "%v is not in [0, %v]", r, MaxRate)
			}
		}
		if l.Step < 0 || l.Step.D() > MaxDuration {
			return bad(field+".step", "%v is not in [0, %v]", l.Step.D(), MaxDuration)
		}
		if l.Step == 0 && len(l.Rates) > 1 {
			return bad(field+".step", "required when there are %d rates", len(l.Rates))
		}
		if l.Step > 0 && l.Step.D() < time.Millisecond {
			return bad(field+".step", "%v is shorter than 1ms", l.Step.D())
		}
	}
	return nil
}

// validID checks a node or scenario name: 1 to 63 characters from
// [a-zA-Z0-9._-], starting with a letter or digit.
func validID(id string) error {
	if err := strategy.ValidName(id); err != nil {
		// ValidName speaks of function names; say "name" instead.
		return errors.New(strings.Replace(err.Error(), "function name", "name", 1))
	}
	return nil
}

// fillDefaults sets the documented defaults of zero fields.
func (s *Scenario) fillDefaults() {
	if s.Period == 0 {
		s.Period = Duration(DefaultPeriod)
	}
	if s.QueueDepth == 0 {
		s.QueueDepth = proxyctl.DefaultQueueDepth
	}
	for i := range s.Nodes {
		for k := range s.Nodes[i].Functions {
			f := &s.Nodes[i].Functions[k]
			if f.Concurrency == 0 {
				f.Concurrency = DefaultConcurrency
			}
			if f.Timeout == 0 {
				f.Timeout = Duration(DefaultTimeout)
			}
		}
	}
	if len(s.Links) == 0 && len(s.Nodes) > 1 {
		for i := range s.Nodes {
			for j := i + 1; j < len(s.Nodes); j++ {
				s.Links = append(s.Links, Link{A: s.Nodes[i].ID, B: s.Nodes[j].ID, RTT: Duration(DefaultRTT)})
			}
		}
	}
}

// clone returns a deep copy of s.
func (s *Scenario) clone() *Scenario {
	c := *s
	c.Nodes = slices.Clone(s.Nodes)
	for i := range c.Nodes {
		c.Nodes[i].Functions = slices.Clone(c.Nodes[i].Functions)
	}
	c.Links = slices.Clone(s.Links)
	c.Load = slices.Clone(s.Load)
	for i := range c.Load {
		c.Load[i].Rates = slices.Clone(c.Load[i].Rates)
	}
	return &c
}

// Functions returns the names of every function deployed or loaded in s,
// sorted.
func (s *Scenario) Functions() []string {
	set := map[string]bool{}
	for _, n := range s.Nodes {
		for _, f := range n.Functions {
			set[f.Name] = true
		}
	}
	for _, l := range s.Load {
		set[l.Function] = true
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// RateAt returns the rate of l at time t from the start of the run.
func (l Load) RateAt(t time.Duration) float64 {
	if l.Step <= 0 || len(l.Rates) == 1 {
		return l.Rates[0]
	}
	i := int(t / l.Step.D())
	return l.Rates[min(max(i, 0), len(l.Rates)-1)]
}

// NextArrival returns the first arrival after from and before end of the
// Poisson process whose rate is l.RateAt, drawing exponential gaps from
// rnd. Rates are piecewise constant and the exponential distribution is
// memoryless, so at a step boundary the draw simply starts again at the
// new rate. The simulator and dfaas bench's load generator draw their
// arrivals with it.
func (l *Load) NextArrival(rnd *rand.Rand, from, end time.Duration) (time.Duration, bool) {
	t := from
	step := l.Step.D()
	for t < end {
		var rate float64
		segEnd := end
		if step <= 0 || len(l.Rates) == 1 {
			rate = l.Rates[0]
		} else {
			i := t / step
			if i >= time.Duration(len(l.Rates))-1 {
				rate = l.Rates[len(l.Rates)-1]
			} else {
				rate = l.Rates[i]
				segEnd = min(segEnd, (i+1)*step)
			}
		}
		if rate > 0 {
			if dt := time.Duration(rnd.ExpFloat64() / rate * 1e9); t+dt < segEnd {
				return t + dt, true
			}
		}
		t = segEnd
	}
	return 0, false
}

// changes returns the times in (0, d) at which the rate of l changes value.
func (l Load) changes(d time.Duration) []time.Duration {
	var out []time.Duration
	for i := 1; i < len(l.Rates); i++ {
		t := time.Duration(i) * l.Step.D()
		if t >= d {
			break
		}
		if l.Rates[i] != l.Rates[i-1] {
			out = append(out, t)
		}
	}
	return out
}

// OfferedRequests returns the expected number of user requests of s: the
// integral of every load's rate over the run.
func (s *Scenario) OfferedRequests() float64 {
	var total float64
	d := s.Duration.D()
	for _, l := range s.Load {
		prev := time.Duration(0)
		for _, t := range append(l.changes(d), d) {
			total += l.RateAt(prev) * (t - prev).Seconds()
			prev = t
		}
	}
	return total
}

// Save writes s as indented JSON to the file at path.
func (s *Scenario) Save(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := s.Encode(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

// Encode writes s as indented JSON.
func (s *Scenario) Encode(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

// builtinScenarios are the scenario files shipped with the package: the
// public scenarios (the original prototype's three testbed load tests and
// a partially linked ring) and the project's overload scenarios. See
// docs/scenarios.md.
//
//go:embed testdata/testbed-1-light-overload.json testdata/testbed-2-mid-multi.json
//go:embed testdata/testbed-3-three-loaded.json testdata/ring-partial.json
//go:embed testdata/overload-uniform.json testdata/overload-mixed.json
//go:embed testdata/overload-step.json testdata/overload-unloaded.json
var builtinScenarios embed.FS

// BuiltinScenarios returns the names of the scenarios shipped with the
// package, sorted: dfaas sim and dfaas bench take them as --scenario NAME.
func BuiltinScenarios() []string {
	ents, _ := builtinScenarios.ReadDir("testdata")
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, strings.TrimSuffix(e.Name(), ".json"))
	}
	return names
}

// BuiltinScenario returns the shipped scenario of that name (one of
// BuiltinScenarios, with or without ".json").
func BuiltinScenario(name string) (*Scenario, error) {
	name = strings.TrimSuffix(name, ".json")
	if !slices.Contains(BuiltinScenarios(), name) {
		return nil, fmt.Errorf("no built-in scenario %q (built in: %s)", name, strings.Join(BuiltinScenarios(), ", "))
	}
	b, err := builtinScenarios.ReadFile("testdata/" + name + ".json")
	if err != nil {
		return nil, err
	}
	s, err := ParseScenario(b)
	if err != nil {
		return nil, fmt.Errorf("scenario %s: %w", name, err)
	}
	return s, nil
}

// OpenScenario loads the scenario file at arg or, when no such file
// exists, the built-in scenario arg names (BuiltinScenarios), as the
// commands' --scenario flag does.
func OpenScenario(arg string) (*Scenario, error) {
	if _, err := os.Stat(arg); err != nil {
		if sc, berr := BuiltinScenario(arg); berr == nil {
			return sc, nil
		}
		return nil, fmt.Errorf("%q: neither a file (%v) nor a built-in scenario (%s)", arg, err, strings.Join(BuiltinScenarios(), ", "))
	}
	return LoadScenario(arg)
}
