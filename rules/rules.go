// Package rules holds trailbell's built-in rule pack as data: one YAML file per rule with the
// sample records it must and must not report. internal/detect loads it; see README.md.
package rules

import "embed"

// FS holds the rule files (*.yaml at the top level).
//
//go:embed *.yaml
var FS embed.FS
