package app

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trailbell/trailbell/internal/config"
	"github.com/trailbell/trailbell/internal/correlate"
	"github.com/trailbell/trailbell/internal/detect"
	"github.com/trailbell/trailbell/internal/ingest"
)

// StateFile is the file under state_dir (or scan --state-dir) that holds the state of
// detections with memory.
const StateFile = "detections.db"

// Memory is detection with memory (internal/correlate) as ingest and scan take it.
type Memory struct{ *correlate.Engine }

var (
	_ ingest.Memory = Memory{}
	_ ScanMemory    = Memory{}
)

// Begin starts an input.
func (m Memory) Begin(name string) ingest.MemoryInput { return m.Engine.Begin(name) }

// NewMemory builds detection with memory over det with the configuration's state settings:
// the state in store (nil keeps it in memory, as a scan does without --state-dir), its
// metrics registered with reg when set.
func NewMemory(det *detect.Engine, st config.State, store correlate.Store, reg prometheus.Registerer) (Memory, error) {
	o := correlate.Options{
		Store: store, Tolerance: time.Duration(st.Tolerance), MaxGroups: st.MaxGroups, MaxKeys: st.MaxKeys,
		MaxBuffered: st.MaxBuffered,
	}
	if reg != nil {
		o.Metrics = correlate.NewMetrics(reg)
	}
	e, err := correlate.New(det, o)
	return Memory{e}, err
}
