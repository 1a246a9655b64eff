package config

import "time"

// State configures detections with memory (threshold, sequence and new_terms rules, and the
// actor behind role sessions) in scan, run and the Lambda. `trailbell run` keeps the state
// under state_dir, the Lambda in DynamoDB.
type State struct {
	// Tolerance is how late a record may arrive, behind the newest one seen, and still be
	// evaluated in event-time order: default 20m (a 5-minute CloudTrail file delivered up to
	// 15 minutes late). Records are held back that long before their rules see them.
	Tolerance Duration `yaml:"tolerance"`
	// MaxGroups bounds, per rule, the groups or values kept; the oldest go first past it
	// (trailbell_state_dropped_total). Default 100000.
	MaxGroups int `yaml:"max_groups"`
	// MaxKeys bounds the session access keys followed to their actor. Default 200000.
	MaxKeys int `yaml:"max_keys"`
	// MaxBuffered bounds the records held back for the tolerance; past it the oldest are
	// evaluated early. Default 100000.
	MaxBuffered int `yaml:"max_buffered"`
	// DynamoDBTable holds the Lambda's state (or TRAILBELL_STATE_TABLE); without one the
	// Lambda runs no rules with memory and says so when it starts.
	DynamoDBTable string `yaml:"dynamodb_table"`
}

func (s State) validate(bad func(path, format string, args ...any)) {
	if s.Tolerance < 0 || time.Duration(s.Tolerance) > 24*time.Hour {
		bad("state.tolerance", "must be between 0 (the default, 20m) and 24h")
	}
	if s.MaxGroups < 0 {
		bad("state.max_groups", "must not be negative")
	}
	if s.MaxKeys < 0 {
		bad("state.max_keys", "must not be negative")
	}
	if s.MaxBuffered < 0 {
		bad("state.max_buffered", "must not be negative")
	}
}
