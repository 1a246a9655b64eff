package main

import (
	"fmt"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
)

// version and commit are set at link time by `make build` and scripts/build-lambda.sh
// (-ldflags "-X main.version=... -X main.commit=..."); otherwise they come from the build
// information Go records: the module version of `go install ...@version`, and the commit of
// a build in a git checkout.
var version, commit string

// pseudoCommit is the commit a pseudo-version ends with (v0.0.0-20261203194305-48f949a1b2c3).
var pseudoCommit = regexp.MustCompile(`-([0-9a-f]{12})(\+incompatible)?$`)

// versionText is the line `trailbell --version` prints: "trailbell VERSION (commit C, TIME)
// GOVERSION", each part "unknown" when nothing recorded it.
func versionText() string {
	return formatVersion(version, commit, readBuildInfo())
}

func readBuildInfo() *debug.BuildInfo {
	bi, _ := debug.ReadBuildInfo()
	return bi
}

func formatVersion(version, commit string, bi *debug.BuildInfo) string {
	var at string
	modified := false
	goVersion := runtime.Version()
	if bi != nil {
		goVersion = bi.GoVersion
		if version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if commit == "" {
					commit = s.Value
				}
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	if commit == "" {
		if m := pseudoCommit.FindStringSubmatch(version); m != nil {
			commit = m[1]
		}
	}
	if version == "" {
		version = "devel"
	}
	parts := []string{"commit " + orUnknown(commit)}
	if at != "" {
		parts = append(parts, at)
	}
	if modified {
		parts = append(parts, "modified")
	}
	return fmt.Sprintf("trailbell %s (%s) %s", version, strings.Join(parts, ", "), goVersion)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}
