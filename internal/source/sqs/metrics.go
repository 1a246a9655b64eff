package sqs

import "github.com/prometheus/client_golang/prometheus"

// Metrics of queue reading, labelled by queue URL. A nil *Metrics records nothing.
type Metrics struct {
	messages    *prometheus.CounterVec
	receiveErrs *prometheus.CounterVec
}

// NewMetrics registers the source's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trailbell_sqs_messages_total", Help: "Messages handled, by result: done, failed (retried later), delete_failed.",
		}, []string{"queue", "result"}),
		receiveErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trailbell_sqs_receive_errors_total", Help: "Failed ReceiveMessage calls.",
		}, []string{"queue"}),
	}
	reg.MustRegister(m.messages, m.receiveErrs)
	return m
}

func (m *Metrics) message(queue, result string) {
	if m != nil {
		m.messages.WithLabelValues(queue, result).Inc()
	}
}

func (m *Metrics) receiveError(queue string) {
	if m != nil {
		m.receiveErrs.WithLabelValues(queue).Inc()
	}
}
