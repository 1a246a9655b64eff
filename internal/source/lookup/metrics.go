package lookup

import "github.com/prometheus/client_golang/prometheus"

// Metrics of LookupEvents polling, labelled by account/region name. A nil *Metrics records nothing.
type Metrics struct {
	requests, events, duplicates, pollErrs, corrupt *prometheus.CounterVec
}

// NewMetrics registers the source's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	c := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"name"})
	}
	m := &Metrics{
		requests:   c("trailbell_lookup_requests_total", "LookupEvents requests sent."),
		events:     c("trailbell_lookup_events_total", "Events read from LookupEvents and accepted."),
		duplicates: c("trailbell_lookup_duplicates_total", "Events skipped because an overlapping window already returned them."),
		pollErrs:   c("trailbell_lookup_poll_errors_total", "Polls that failed and are retried at the next interval."),
		corrupt:    c("trailbell_lookup_checkpoints_corrupt_total", "Checkpoints that could not be read; polling started again from since."),
	}
	reg.MustRegister(m.requests, m.events, m.duplicates, m.pollErrs, m.corrupt)
	return m
}

func (m *Metrics) request(name string) {
	if m != nil {
		m.requests.WithLabelValues(name).Inc()
	}
}

func (m *Metrics) event(name string) {
	if m != nil {
		m.events.WithLabelValues(name).Inc()
	}
}

func (m *Metrics) duplicate(name string) {
	if m != nil {
		m.duplicates.WithLabelValues(name).Inc()
	}
}

func (m *Metrics) pollError(name string) {
	if m != nil {
		m.pollErrs.WithLabelValues(name).Inc()
	}
}

func (m *Metrics) corruptCheckpoint(name string) {
	if m != nil {
		m.corrupt.WithLabelValues(name).Inc()
	}
}
