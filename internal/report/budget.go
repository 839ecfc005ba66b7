package report

import (
	"fmt"
	"time"

	"github.com/puretasks/k8s-conformance/internal/poll"
	"github.com/puretasks/k8s-conformance/internal/spec"
)

// BudgetFactor is how far above its floor a whole run may go.
const BudgetFactor = 1.3

// FloorPhases are the phases no run can avoid; with the extras callers add
// (the longest probe window) they make the run's floor. The stub images load
// while the nodes get Ready (live.BringUp), so "image load" is not one of
// them: counting both would overstate the floor.
var FloorPhases = []string{"cluster create", "node Ready", "apply -> Available", "teardown"}

// PhaseBudget is a phase's own bound and the reason for it.
type PhaseBudget struct {
	Phase  string
	Budget time.Duration
	Why    string
}

// PhaseBudgets are the phases whose time has a bound of its own, derived from
// the seed or from the wait that bounds them. Every other phase is held only
// by the run's budget (BudgetFactor x floor). A phase over its budget is a
// warning, never a failure: timing on a shared machine flakes.
var PhaseBudgets = []PhaseBudget{
	{
		Phase:  "apply -> Available",
		Budget: slowestStartupKill(spec.Seed),
		Why:    "the seed's startup probes kill a container that has not started by then (latest kill window), so Available later means a start-up failed",
	},
	{
		Phase:  "teardown",
		Budget: poll.DockerStop.Timeout,
		Why:    fmt.Sprintf("node containers stop within the %s wait (%s); longer means a container hung on its way out", poll.DockerStop.Name, poll.DockerStop.Timeout),
	},
}

func slowestStartupKill(a spec.App) time.Duration {
	return max(a.Backend.Deployment.Container.Startup.KillWindow().Latest, a.Frontend.Deployment.Container.Startup.KillWindow().Latest)
}

func budgetFor(phase string) (PhaseBudget, bool) {
	for _, b := range PhaseBudgets {
		if b.Phase == phase {
			return b, true
		}
	}
	return PhaseBudget{}, false
}

func inFloor(phase string) bool {
	for _, name := range FloorPhases {
		if name == phase {
			return true
		}
	}
	return false
}

type floorPart struct {
	Name     string        `json:"name"`
	Duration time.Duration `json:"duration"`
}

// RunBudget is the whole run held to BudgetFactor x its floor.
type RunBudget struct {
	Floor  time.Duration `json:"floor"`
	Budget time.Duration `json:"budget"`
	Total  time.Duration `json:"total"`
	Over   bool          `json:"over"`
	// Parts name what the floor is made of, with their measured times.
	Parts  []string    `json:"parts"`
	Extras []floorPart `json:"extras,omitempty"`
}

// FloorAlso adds a part to the run's floor that is not a phase, such as the
// seed's longest probe window (every scenario runs at once, so the probe lane
// cannot end before it).
func (r *Report) FloorAlso(name string, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.extras = append(r.extras, floorPart{Name: name, Duration: d})
}

// Floor is the sum of the floor phases measured in this run plus extra and
// the parts added with FloorAlso; parts name each term.
func (r *Report) Floor(extra time.Duration) (time.Duration, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	floor, parts := r.floorLocked()
	return floor + extra, parts
}

func (r *Report) floorLocked() (time.Duration, []string) {
	var floor time.Duration
	var parts []string
	for _, name := range FloorPhases {
		for _, p := range r.phases {
			if p.Name == name {
				floor += p.Duration
				parts = append(parts, fmt.Sprintf("%s %s", name, round(p.Duration)))
			}
		}
	}
	for _, e := range r.extras {
		floor += e.Duration
		parts = append(parts, fmt.Sprintf("%s %s", e.Name, round(e.Duration)))
	}
	return floor, parts
}

func (r *Report) runBudgetLocked() RunBudget {
	floor, parts := r.floorLocked()
	budget := time.Duration(BudgetFactor * float64(floor))
	return RunBudget{
		Floor:  floor,
		Budget: budget,
		Total:  r.total,
		Over:   floor > 0 && r.total > budget,
		Parts:  parts,
		Extras: append([]floorPart(nil), r.extras...),
	}
}
