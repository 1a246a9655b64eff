package s3poll

import "github.com/prometheus/client_golang/prometheus"

// Metrics of S3 polling, labelled by source (s3://bucket/prefix). A nil *Metrics records nothing.
type Metrics struct {
	files    *prometheus.CounterVec
	bytes    *prometheus.CounterVec
	fileErrs *prometheus.CounterVec
	listErrs *prometheus.CounterVec
	corrupt  *prometheus.CounterVec
	prefixes *prometheus.GaugeVec
}

// NewMetrics registers the poller's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		files: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trailbell_s3_files_total", Help: "Log files read from S3 and accepted.",
		}, []string{"source"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trailbell_s3_bytes_total", Help: "Bytes of log files read from S3 (object size).",
		}, []string{"source"}),
		fileErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trailbell_s3_file_errors_total", Help: "Log files that failed and wait for the next poll.",
		}, []string{"source"}),
		listErrs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trailbell_s3_list_errors_total", Help: "Failed S3 listings.",
		}, []string{"source"}),
		corrupt: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "trailbell_s3_checkpoints_corrupt_total", Help: "Checkpoints that could not be read; their prefix was listed again from since.",
		}, []string{"source"}),
		prefixes: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "trailbell_s3_prefixes", Help: "ACCOUNT/CloudTrail/REGION prefixes being polled.",
		}, []string{"source"}),
	}
	reg.MustRegister(m.files, m.bytes, m.fileErrs, m.listErrs, m.corrupt, m.prefixes)
	return m
}

func (m *Metrics) file(src string, size int64) {
	if m != nil {
		m.files.WithLabelValues(src).Inc()
		m.bytes.WithLabelValues(src).Add(float64(size))
	}
}

func (m *Metrics) fileErrors(src string) {
	if m != nil {
		m.fileErrs.WithLabelValues(src).Inc()
	}
}

func (m *Metrics) listErrors(src string) {
	if m != nil {
		m.listErrs.WithLabelValues(src).Inc()
	}
}

func (m *Metrics) corruptCheckpoint(src string) {
	if m != nil {
		m.corrupt.WithLabelValues(src).Inc()
	}
}

func (m *Metrics) setPrefixes(src string, n int) {
	if m != nil {
		m.prefixes.WithLabelValues(src).Set(float64(n))
	}
}
