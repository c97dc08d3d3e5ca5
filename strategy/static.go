package strategy

import "fmt"

// Static is the original baseline: for every function, LocalShare of the
// user requests are served locally and the rest is split evenly among the
// neighbours that run that function (not every neighbour that runs some
// function, as the original did). With no such neighbour everything stays
// local; for a function not deployed here everything is split among the
// neighbours running it, or rejected if none does.
type Static struct {
	// LocalShare is the share served locally, in [0, 1]. The original
	// uses 0.6.
	LocalShare float64 `json:"local_share"`
}

// Validate implements Validator.
func (st *Static) Validate() error {
	if !inUnit(st.LocalShare) {
		return fmt.Errorf("local_share %v not in [0, 1]", st.LocalShare)
	}
	return nil
}

// Decide implements Strategy.
func (st *Static) Decide(s Snapshot) (Decision, error) {
	var d Decision
	for _, f := range s.Functions {
		runners := s.Running(f.Name)
		local := 0.0
		if f.Deployed {
			local = st.LocalShare
			if len(runners) == 0 {
				local = 1
			}
		}
		fwd := map[NodeID]float64{}
		for _, n := range runners {
			fwd[n.ID] = (1 - local) / float64(len(runners))
		}
		d.Routes = append(d.Routes, NewRoute(f.Name, local, 0, fwd))
	}
	d.Announce = BaseAnnouncement(s)
	return d, nil
}

// Interface guards.
var (
	_ Strategy  = (*Static)(nil)
	_ Validator = (*Static)(nil)
)
