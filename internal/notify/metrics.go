package notify

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the Pipeline's counters; create them with NewMetrics.
type Metrics struct {
	accepted   *prometheus.CounterVec
	unrouted   prometheus.Counter
	duplicates prometheus.Counter
	suppressed prometheus.Counter
	filtered   *prometheus.CounterVec
	delivered  *prometheus.CounterVec
	messages   *prometheus.CounterVec
	attempts   *prometheus.CounterVec
	failed     *prometheus.CounterVec
	pending    *prometheus.GaugeVec
	failing    *prometheus.GaugeVec
	latency    *prometheus.HistogramVec
}

// NewMetrics creates the delivery metrics and registers them with reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trailbell_notify_accepted_total", Help: "Findings accepted into the outbox, per receiver.",
		}, []string{"receiver"}),
		unrouted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "trailbell_notify_unrouted_total", Help: "Findings the root route did not take (its severity, rules, accounts, tags or match).",
		}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "trailbell_notify_duplicates_total", Help: "Findings dropped because their (rule, eventID) was already accepted.",
		}),
		suppressed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "trailbell_notify_suppressed_total", Help: "Findings matched by a configured exception.",
		}),
		filtered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trailbell_notify_below_min_severity_total", Help: "Findings routed to a receiver but below its minimum severity.",
		}, []string{"receiver"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trailbell_notify_delivered_total", Help: "Findings delivered, per receiver.",
		}, []string{"receiver"}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trailbell_notify_messages_total", Help: "Successful notifier calls (one message, or one summary of repeats).",
		}, []string{"receiver"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trailbell_notify_attempt_failures_total", Help: "Failed delivery attempts, per receiver and reason.",
		}, []string{"receiver", "reason"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trailbell_notify_failed_total", Help: "Findings that could not be delivered (moved to the fallback receiver or the dead-letter queue).",
		}, []string{"receiver", "reason"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "trailbell_notify_pending", Help: "Findings waiting in the outbox, per receiver.",
		}, []string{"receiver"}),
		failing: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "trailbell_notify_receiver_failing", Help: "1 while a receiver's last delivery failed (retrying, or sent to its fallback or the dead letters), else 0.",
		}, []string{"receiver"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "trailbell_notify_delivery_seconds", Help: "Time from acceptance to delivery.",
			Buckets: []float64{.1, .5, 1, 5, 15, 60, 300, 1800, 3600, 6 * 3600, 24 * 3600},
		}, []string{"receiver"}),
	}
	if reg != nil {
		reg.MustRegister(m.accepted, m.unrouted, m.duplicates, m.suppressed, m.filtered, m.delivered,
			m.messages, m.attempts, m.failed, m.pending, m.failing, m.latency)
	}
	return m
}

// receiverMetrics are one receiver's series, looked up once rather than per finding.
type receiverMetrics struct {
	accepted, filtered, delivered, messages prometheus.Counter
	pending, failing                        prometheus.Gauge
	latency                                 prometheus.Observer
	name                                    string
	m                                       *Metrics
}

func (m *Metrics) receiver(name string) receiverMetrics {
	return receiverMetrics{
		accepted:  m.accepted.WithLabelValues(name),
		filtered:  m.filtered.WithLabelValues(name),
		delivered: m.delivered.WithLabelValues(name),
		messages:  m.messages.WithLabelValues(name),
		pending:   m.pending.WithLabelValues(name),
		failing:   m.failing.WithLabelValues(name),
		latency:   m.latency.WithLabelValues(name),
		name:      name,
		m:         m,
	}
}

// attempt counts a failed delivery attempt.
func (r receiverMetrics) attempt(reason string) prometheus.Counter {
	return r.m.attempts.WithLabelValues(r.name, reason)
}

// failed counts findings that could not be delivered.
func (r receiverMetrics) failed(reason string) prometheus.Counter {
	return r.m.failed.WithLabelValues(r.name, reason)
}
