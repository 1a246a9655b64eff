package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/trailbell/trailbell/internal/config"
	"github.com/trailbell/trailbell/internal/correlate"
	"github.com/trailbell/trailbell/internal/detect"
	"github.com/trailbell/trailbell/internal/ingest"
)

// StateFile is the file, in a state directory (state_dir, scan --state-dir), that holds the
// state of detections with memory.
const StateFile = "detections.db"

// Rules returns the rules the configuration enables, for every program alike: the built-in
// pack unless run.no_builtin, then the files of run.rules (relative to the configuration
// file), narrowed by run.only and run.disable, and to min_severity and above. The commands
// put their flags (--rules, --no-builtin, --only, --disable, --min-severity) into these
// settings.
func Rules(cfg *config.Config) ([]detect.Rule, error) { return rulesOf(cfg, detect.Builtin) }

// detectionRules are Rules for detection alone: the built-in rules come without their
// samples, which detection never reads and which are most of what loading them costs.
func detectionRules(cfg *config.Config) ([]detect.Rule, error) {
	return rulesOf(cfg, detect.BuiltinForDetection)
}

func rulesOf(cfg *config.Config, builtin func() ([]detect.Rule, error)) ([]detect.Rule, error) {
	var rules []detect.Rule
	if !cfg.Run.NoBuiltin {
		b, err := builtin()
		if err != nil {
			return nil, fmt.Errorf("built-in rules: %w", err)
		}
		rules = b
	}
	if len(cfg.Run.Rules) > 0 {
		paths := make([]string, len(cfg.Run.Rules))
		for i, p := range cfg.Run.Rules {
			if !filepath.IsAbs(p) && cfg.Dir() != "" {
				p = filepath.Join(cfg.Dir(), p)
			}
			paths[i] = p
		}
		extra, err := detect.Load(paths...)
		if err != nil {
			return nil, err
		}
		rules = append(rules, extra...)
	}
	rules, err := detect.Select(rules, cfg.Run.Only, cfg.Run.Disable)
	if err != nil {
		return nil, fmt.Errorf("choosing rules: %w", err)
	}
	if len(rules) == 0 {
		return nil, errors.New("no rules enabled")
	}
	if rules = detect.AtLeast(rules, config.Severity(cfg.MinSeverity)); len(rules) == 0 {
		return nil, fmt.Errorf("no rule enabled is of severity %s or above (min_severity)", cfg.MinSeverity)
	}
	return rules, nil
}

// engine compiles the rules the configuration enables.
func engine(cfg *config.Config) (*detect.Engine, error) {
	rules, err := detectionRules(cfg)
	if err != nil {
		return nil, err
	}
	return detect.New(rules)
}

// memory is detection with memory (internal/correlate) as ingest, scan, the daemon and the
// Lambda take it.
type memory struct{ *correlate.Engine }

var _ ingest.Memory = memory{}

// Begin starts an input.
func (m memory) Begin(name string) ingest.MemoryInput { return m.Engine.Begin(name) }

// newMemory builds detection with memory over eng with the configuration's state settings,
// its state in store (nil keeps it in memory, as a scan does without --state-dir) and its
// metrics registered with reg when set; fixed says its rules are never swapped (a scan).
func newMemory(eng *detect.Engine, st config.State, store correlate.Store, reg prometheus.Registerer, fixed bool) (memory, error) {
	o := correlate.Options{
		Store: store, Tolerance: time.Duration(st.Tolerance), MaxGroups: st.MaxGroups, MaxKeys: st.MaxKeys,
		MaxBuffered: st.MaxBuffered, FixedRules: fixed,
	}
	if reg != nil {
		o.Metrics = correlate.NewMetrics(reg)
	}
	e, err := correlate.New(eng, o)
	return memory{e}, err
}

// openState opens the state of detections with memory kept in dir (StateFile), creating dir;
// setting names the setting that chose dir, for errors.
func openState(dir, setting string) (*correlate.BoltStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%s: %w", setting, err)
	}
	s, err := correlate.OpenBolt(filepath.Join(dir, StateFile))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", setting, err)
	}
	return s, nil
}
