package strategy

import (
	"math"
	"strings"
	"testing"
)

// TestAnnouncementValidate: each rule of Announcement.Validate (what a
// peer message carries), broken alone, is refused with a message naming
// what is at fault; a valid announcement, data at the size limit
// included, passes.
func TestAnnouncementValidate(t *testing.T) {
	valid := func() Announcement {
		return Announcement{
			Functions: []FunctionState{{Name: "f", Deployed: true, Capacity: 10, Spare: 5}, {Name: "g", Offered: 1}},
			Grants:    []Grant{{To: "a", Function: "f", Rate: 1}, {To: "a", Function: "g", Rate: 0}, {To: "b", Function: "f", Rate: 2}},
			Resources: Resources{CPU: 0.5, CPUCores: 2, Memory: 1e9, MemoryTotal: 4e9, Power: 10},
			Data:      []byte(`{"margin":0.2}`),
		}
	}
	if err := valid().Validate(); err != nil {
		t.Fatalf("valid announcement refused: %v", err)
	}
	atLimit := valid()
	atLimit.Data = []byte(`"` + strings.Repeat("x", MaxAnnouncementData-2) + `"`)
	if err := atLimit.Validate(); err != nil {
		t.Fatalf("data at the size limit refused: %v", err)
	}
	tests := []struct {
		name   string
		mutate func(a *Announcement)
		want   string
	}{
		{"bad function name", func(a *Announcement) { a.Functions[1].Name = "g/h" }, "announced function 1"},
		{"unsorted functions", func(a *Announcement) { a.Functions[0], a.Functions[1] = a.Functions[1], a.Functions[0] }, `not sorted or duplicated at "f"`},
		{"duplicate function", func(a *Announcement) { a.Functions[1].Name = "f" }, `not sorted or duplicated at "f"`},
		{"NaN capacity", func(a *Announcement) { a.Functions[0].Capacity = math.NaN() }, `announced function "f": NaN`},
		{"negative offered", func(a *Announcement) { a.Functions[1].Offered = -1 }, `announced function "g": -1`},
		{"infinite load", func(a *Announcement) { a.Functions[0].Load = math.Inf(1) }, "+Inf"},
		{"negative excess", func(a *Announcement) { a.Functions[0].Excess = -2 }, "-2"},
		{"grant to no one", func(a *Announcement) { a.Grants[0].To = "" }, "grant 0: empty recipient"},
		{"grant of a bad name", func(a *Announcement) { a.Grants[2].Function = "" }, "grant 2"},
		{"NaN grant", func(a *Announcement) { a.Grants[1].Rate = math.NaN() }, "grant 1: rate NaN"},
		{"negative grant", func(a *Announcement) { a.Grants[1].Rate = -1 }, "grant 1: rate -1"},
		{"grants unsorted by recipient", func(a *Announcement) { a.Grants[0], a.Grants[2] = a.Grants[2], a.Grants[0] }, "grants not sorted"},
		{"grants unsorted by function", func(a *Announcement) { a.Grants[0], a.Grants[1] = a.Grants[1], a.Grants[0] }, `grants not sorted or duplicated at "a"/"f"`},
		{"duplicate grant", func(a *Announcement) { a.Grants[1] = a.Grants[0] }, `grants not sorted or duplicated at "a"/"f"`},
		{"negative CPU", func(a *Announcement) { a.Resources.CPU = -0.1 }, "resource value -0.1"},
		{"infinite power", func(a *Announcement) { a.Resources.Power = math.Inf(1) }, "resource value +Inf"},
		{"data above the limit", func(a *Announcement) {
			a.Data = []byte(`"` + strings.Repeat("x", MaxAnnouncementData-1) + `"`)
		}, "more than 16384"},
		{"data not JSON", func(a *Announcement) { a.Data = []byte(`{"margin":`) }, "not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := valid()
			tt.mutate(&a)
			err := a.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}
