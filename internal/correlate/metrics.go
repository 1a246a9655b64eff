package correlate

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the engine's counters for /metrics. A nil *Metrics counts nothing.
type Metrics struct {
	events    *prometheus.CounterVec
	findings  *prometheus.CounterVec
	drops     *prometheus.CounterVec
	replays   prometheus.Counter
	buffered  prometheus.Gauge
	cached    prometheus.Gauge
	watermark prometheus.Gauge
	lag       prometheus.Gauge
}

// NewMetrics registers the engine's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trailbell_state_records_total",
			Help: "Records taken in by detections with memory, by outcome: buffered (waiting for the tolerance), late (older than what was evaluated: evaluated at once, out of order), duplicate (already buffered), untimed (no eventTime or eventID: skipped), credentials (STS credentials followed to their actor), undecodable, conflict (a commit lost to another writer and is retried).",
		}, []string{"outcome"}),
		findings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trailbell_state_findings_total", Help: "Findings of threshold, sequence and new_terms rules, per rule.",
		}, []string{"rule"}),
		drops: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trailbell_state_dropped_total",
			Help: "Groups, values, credentials or inputs forgotten before they expired because their table was full (max_groups, max_keys, max_inputs), per rule or table.",
		}, []string{"table"}),
		replays: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "trailbell_state_replays_total", Help: "Inputs committed before and read again: their findings were re-emitted, nothing was counted twice.",
		}),
		buffered: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "trailbell_state_buffered", Help: "Records waiting for the out-of-order tolerance before evaluation.",
		}),
		cached: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "trailbell_state_cached_slots", Help: "State slots held in memory (each up to 16 groups, values or keys).",
		}),
		watermark: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "trailbell_state_event_time_seconds", Help: "The newest event time seen (Unix seconds).",
		}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "trailbell_state_evaluated_time_seconds", Help: "Records up to this event time (Unix seconds) have been evaluated.",
		}),
	}
	reg.MustRegister(m.events, m.findings, m.drops, m.replays, m.buffered, m.cached, m.watermark, m.lag)
	return m
}

func (m *Metrics) event(outcome string, n int) {
	if m != nil {
		m.events.WithLabelValues(outcome).Add(float64(n))
	}
}

func (m *Metrics) finding(rule string) {
	if m != nil {
		m.findings.WithLabelValues(rule).Inc()
	}
}

func (m *Metrics) dropped(table string) {
	if m != nil {
		m.drops.WithLabelValues(table).Inc()
	}
}

func (m *Metrics) replay() {
	if m != nil {
		m.replays.Inc()
	}
}

func (m *Metrics) gauges(st *state) {
	if m == nil {
		return
	}
	m.buffered.Set(float64(len(st.buf)))
	n := 0
	for _, t := range st.tables {
		n += t.cached()
	}
	m.cached.Set(float64(n))
	if st.meta.Watermark != 0 {
		m.watermark.Set(float64(time.Unix(0, st.meta.Watermark).Unix()))
	}
	if st.meta.Done != 0 {
		m.lag.Set(float64(time.Unix(0, st.meta.Done).Unix()))
	}
}
