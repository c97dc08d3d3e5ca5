package strategy

import (
	"encoding/json"
	"math"
	"testing"
)

// FuzzDecisionValidate decodes arbitrary JSON as a decision and validates it
// against a fixed snapshot: Validate must never panic, and a decision it
// accepts must satisfy the invariants every proxy relies on.
func FuzzDecisionValidate(f *testing.F) {
	s := testSnapshot()
	seeds := []string{
		`{"routes":[{"function":"f","local":1,"reject":0}]}`,
		`{"routes":[{"function":"f","local":0.5,"forward":[{"node":"c","share":0.5}],"reject":0,"local_limit":10,"admit":[{"node":"b","rate":0}]}]}`,
		`{"routes":[{"function":"g","local":0,"forward":[{"node":"b","share":1}],"reject":0}],"announce":{"grants":[{"to":"b","function":"f","rate":3}]}}`,
		`{"routes":[{"function":"f","local":1e308,"reject":-1e308}]}`,
		`{"announce":{"data":{"x":[1,2]}}}`,
	}
	for _, sd := range seeds {
		f.Add([]byte(sd))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var d Decision
		if json.Unmarshal(data, &d) != nil {
			return
		}
		if d.Validate(s) != nil {
			return
		}
		for _, r := range d.Routes {
			sum := r.Local + r.Reject
			for _, sh := range r.Forward {
				if _, ok := s.Neighbour(sh.Node); !ok {
					t.Fatalf("accepted a share to unknown node %q", sh.Node)
				}
				sum += sh.Share
			}
			if math.IsNaN(sum) || math.Abs(sum-1) > ShareTolerance {
				t.Fatalf("accepted shares summing to %v", sum)
			}
			if fn, _ := s.Function(r.Function); r.Local > 0 && !fn.Deployed {
				t.Fatalf("accepted a local share for undeployed %q", r.Function)
			}
		}
	})
}

// FuzzSnapshotValidate checks that Validate never panics on arbitrary
// snapshots and that Clone/Equal agree on the ones it accepts.
func FuzzSnapshotValidate(f *testing.F) {
	b, _ := json.Marshal(testSnapshot())
	f.Add(b)
	f.Add([]byte(`{"Self":"a","Period":1,"Functions":[{"Name":"x","Offered":-1}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var s Snapshot
		if json.Unmarshal(data, &s) != nil {
			return
		}
		if s.Validate() != nil {
			return
		}
		if !s.Clone().Equal(s) {
			t.Fatal("a valid snapshot differs from its clone")
		}
	})
}
