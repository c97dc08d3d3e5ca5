package strategy

// AllLocal serves every request for a deployed function locally. Requests
// for functions not deployed here get the proxy's default handling
// (forwarded evenly to neighbours running them, else rejected). It is the
// baseline of a node without a federation.
type AllLocal struct{}

// Decide implements Strategy.
func (AllLocal) Decide(s Snapshot) (Decision, error) {
	var d Decision
	for _, f := range s.Functions {
		if f.Deployed {
			d.Routes = append(d.Routes, Route{Function: f.Name, Local: 1})
		}
	}
	d.Announce = BaseAnnouncement(s)
	return d, nil
}

// Interface guards.
var _ Strategy = AllLocal{}
