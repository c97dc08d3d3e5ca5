package strategy

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestAnnouncementRules: each rule of Announcement.Validate rejects what it
// names, alone.
func TestAnnouncementRules(t *testing.T) {
	data := func(n int) json.RawMessage { return json.RawMessage(`"` + strings.Repeat("x", n-2) + `"`) }
	tests := []struct {
		name string
		a    Announcement
		want string // "" when valid
	}{
		{"valid", Announcement{Functions: []FunctionState{{Name: "a"}, {Name: "b"}}, Grants: []Grant{{"b", "f", 1}, {"b", "g", 1}, {"c", "a", 1}}}, ""},
		{"bad function name", Announcement{Functions: []FunctionState{{Name: "../x"}}}, "announced function 0"},
		{"functions unsorted", Announcement{Functions: []FunctionState{{Name: "b"}, {Name: "a"}}}, "not sorted or duplicated"},
		{"functions duplicated", Announcement{Functions: []FunctionState{{Name: "a"}, {Name: "a"}}}, "not sorted or duplicated"},
		{"grant to nobody", Announcement{Grants: []Grant{{"", "f", 1}}}, "empty recipient"},
		{"grant of a bad name", Announcement{Grants: []Grant{{"b", "../f", 1}}}, "grant 0"},
		{"grants duplicated", Announcement{Grants: []Grant{{"b", "f", 1}, {"b", "f", 2}}}, "grants not sorted or duplicated"},
		{"grants unsorted by recipient", Announcement{Grants: []Grant{{"c", "f", 1}, {"b", "g", 2}}}, "grants not sorted or duplicated"},
		{"negative resources", Announcement{Resources: Resources{CPU: -1}}, "resource value -1"},
		{"data at the limit", Announcement{Data: data(MaxAnnouncementData)}, ""},
		{"data over the limit", Announcement{Data: data(MaxAnnouncementData + 1)}, "more than"},
		{"data not JSON", Announcement{Data: json.RawMessage(`{`)}, "not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.a.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
}

// TestSnapshotRules: each rule of Snapshot.Validate on functions and
// neighbours rejects what it names, alone.
func TestSnapshotRules(t *testing.T) {
	tests := []struct {
		name   string
		change func(s *Snapshot)
	}{
		{"functions duplicated", func(s *Snapshot) { s.Functions = []Function{{Name: "f"}, {Name: "f"}} }},
		{"negative concurrency", func(s *Snapshot) { s.Functions[0].Concurrency = -1 }},
		{"negative replicas", func(s *Snapshot) { s.Functions[0].Replicas = -1 }},
		{"negative latency", func(s *Snapshot) { s.Functions[0].Latency = -time.Millisecond }},
		{"neighbours duplicated", func(s *Snapshot) { s.Neighbours = []Neighbour{{ID: "b"}, {ID: "b"}} }},
	}
	for _, tt := range tests {
		s := rulesSnapshot()
		if err := s.Validate(); err != nil {
			t.Fatalf("base snapshot: %v", err)
		}
		tt.change(&s)
		if err := s.Validate(); err == nil {
			t.Errorf("%s: accepted", tt.name)
		}
	}
}

// TestValidNameCharacters: letters, digits and, after the first character,
// '.', '_' and '-' are allowed, at the edges of each range too; the
// characters next to those ranges are not.
func TestValidNameCharacters(t *testing.T) {
	for _, ok := range []string{"a", "z", "A", "Z", "0", "9", "azAZ09", "a.b_c-d"} {
		if err := ValidName(ok); err != nil {
			t.Errorf("ValidName(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"`", "{", "@", "[", "/", ":", "a`", "a{", "a@", "a[", "a/", "a:", ".a", "-a"} {
		if err := ValidName(bad); err == nil {
			t.Errorf("ValidName(%q) accepted", bad)
		}
	}
}

// TestEqualAndCloneEachField: snapshots or announcements differing in one
// field are not equal; a clone shares no memory with the original.
func TestEqualAndCloneEachField(t *testing.T) {
	base := Snapshot{Self: "a", Now: time.Unix(1, 0), Period: time.Second, Seed: 1,
		Resources: Resources{CPU: 1}, Functions: []Function{{Name: "f"}},
		Neighbours: []Neighbour{{ID: "b", Age: 1, RTT: 1, Announcement: Announcement{Functions: []FunctionState{{Name: "f"}}}}},
		Prev:       Decision{Routes: []Route{{Function: "f", Local: 1}}},
		Advice:     json.RawMessage(`{"x":1}`)}
	if !base.Equal(base.Clone()) {
		t.Fatal("a snapshot differs from its clone")
	}
	for name, change := range map[string]func(s *Snapshot){
		"Self":       func(s *Snapshot) { s.Self = "z" },
		"Now":        func(s *Snapshot) { s.Now = s.Now.Add(1) },
		"Period":     func(s *Snapshot) { s.Period++ },
		"Seed":       func(s *Snapshot) { s.Seed++ },
		"Resources":  func(s *Snapshot) { s.Resources.CPU++ },
		"Functions":  func(s *Snapshot) { s.Functions[0].Offered++ },
		"Prev":       func(s *Snapshot) { s.Prev.Routes[0].Local = 0.5 },
		"Advice":     func(s *Snapshot) { s.Advice[2] = 'y' },
		"Neighbours": func(s *Snapshot) { s.Neighbours = nil },
		"ID":         func(s *Snapshot) { s.Neighbours[0].ID = "c" },
		"Age":        func(s *Snapshot) { s.Neighbours[0].Age++ },
		"RTT":        func(s *Snapshot) { s.Neighbours[0].RTT++ },
		"Ann":        func(s *Snapshot) { s.Neighbours[0].Announcement.Functions[0].Load++ },
	} {
		o := base.Clone()
		change(&o)
		if base.Equal(o) {
			t.Errorf("snapshots differing in %s are equal (or the clone shares memory)", name)
		}
		if !base.Equal(base.Clone()) {
			t.Fatalf("changing %s of a clone changed the original", name)
		}
	}
	a := Announcement{Functions: []FunctionState{{Name: "f"}}, Grants: []Grant{{"b", "f", 1}}, Resources: Resources{CPU: 1}, Data: json.RawMessage(`1`)}
	for name, change := range map[string]func(a *Announcement){
		"Functions": func(a *Announcement) { a.Functions = nil },
		"Grants":    func(a *Announcement) { a.Grants = nil },
		"Resources": func(a *Announcement) { a.Resources = Resources{} },
		"Data":      func(a *Announcement) { a.Data = json.RawMessage(`2`) },
	} {
		o := a.Clone()
		change(&o)
		if a.Equal(o) {
			t.Errorf("announcements differing in %s are equal", name)
		}
	}
}

// TestBaseAnnouncementIncludes: a function is announced when it is
// deployed, offered or forecast, and left out only when none holds.
func TestBaseAnnouncementIncludes(t *testing.T) {
	s := Snapshot{Self: "a", Period: time.Second, Functions: []Function{
		{Name: "deployed", Deployed: true}, {Name: "forecast", Forecast: 1}, {Name: "idle"}, {Name: "offered", Offered: 1},
	}}
	var names []string
	for _, f := range BaseAnnouncement(s).Functions {
		names = append(names, f.Name)
	}
	if got := strings.Join(names, ","); got != "deployed,forecast,offered" {
		t.Errorf("announced %s, want deployed,forecast,offered", got)
	}
}
