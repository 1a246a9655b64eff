package main

import (
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
)

// leaves lists the path of every subcommand that runs (not a group), walking the tree.
func leaves(path []string, c command) [][]string {
	if c.run != nil {
		return [][]string{path}
	}
	var out [][]string
	for _, s := range c.subs {
		out = append(out, leaves(append(slices.Clone(path), s.name), s)...)
	}
	return out
}

var flagLine = regexp.MustCompile(`^  --([a-z0-9-]+)( [a-zA-Z]+)?$`)

// Every subcommand's --help has one shape, on standard output with exit 0: its usage line(s),
// a blank line, what it does, a blank line, then its flags, each as --name TYPE with its
// usage indented under it. List flags are repeatable (none takes a comma-separated list), and
// every duration flag takes days (30d), as the configuration does.
func TestHelpShape(t *testing.T) {
	all := leaves(nil, commands)
	if len(all) < 10 {
		t.Fatalf("found %d subcommands: %v", len(all), all)
	}
	for _, path := range all {
		name := strings.Join(path, " ")
		t.Run(name, func(t *testing.T) {
			code, out, errOut := runCmd(t, append(slices.Clone(path), "--help")...)
			if code != exitOK || errOut != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			if _, short, _ := runCmd(t, append(slices.Clone(path), "-h")...); short != out {
				t.Errorf("-h and --help differ")
			}
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			i := 0
			if !strings.HasPrefix(lines[i], "usage: trailbell "+name) {
				t.Fatalf("first line %q, want usage: trailbell %s ...", lines[0], name)
			}
			for i++; i < len(lines) && strings.HasPrefix(lines[i], "       trailbell "); i++ {
			}
			if i >= len(lines) || lines[i] != "" {
				t.Fatalf("no blank line after the usage:\n%s", out)
			}
			// the description: one or more paragraphs, then the flags
			start := i + 1
			for i = start; i < len(lines) && !strings.HasPrefix(lines[i], "flags:"); i++ {
			}
			if i == start || i >= len(lines) || lines[start] == "" || lines[i-1] != "" {
				t.Fatalf("no description, or no blank line before the flags:\n%s", out)
			}
			if lines[i] == "flags: none" {
				if i != len(lines)-1 {
					t.Errorf("text after 'flags: none':\n%s", out)
				}
				return
			}
			if lines[i] != "flags:" {
				t.Fatalf("line %q where flags: should be:\n%s", lines[i], out)
			}
			var durations []string
			for i++; i < len(lines); i++ {
				m := flagLine.FindStringSubmatch(lines[i])
				if m == nil {
					t.Fatalf("flag line %q is not '  --name [TYPE]':\n%s", lines[i], out)
				}
				if m[2] == " duration" {
					durations = append(durations, m[1])
				}
				if i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "        ") {
					t.Fatalf("flag --%s has no usage under it:\n%s", m[1], out)
				}
				for i+1 < len(lines) && strings.HasPrefix(lines[i+1], "        ") {
					i++
				}
			}
			if strings.Contains(strings.ToLower(out), "comma") {
				t.Errorf("the help asks for a comma-separated list somewhere:\n%s", out)
			}
			for _, d := range durations {
				if code, _, errOut := runCmd(t, append(slices.Clone(path), "--"+d, "30d", "--help")...); code != exitOK {
					t.Errorf("--%s 30d: exit %d, %s", d, code, errOut)
				}
			}
		})
	}
	// the groups list their commands, the same way
	for _, path := range [][]string{nil, {"rules"}, {"notify"}, {"deploy"}} {
		code, out, _ := runCmd(t, append(slices.Clone(path), "--help")...)
		if want := "usage: " + strings.TrimSpace("trailbell "+strings.Join(path, " ")) + " COMMAND [flags]"; code != exitOK || !strings.HasPrefix(out, want) || !strings.Contains(out, "\ncommands:\n") {
			t.Errorf("%v --help: exit %d\n%s", path, code, out)
		}
		if code, _, errOut := runCmd(t, path...); code != exitError || !strings.Contains(errOut, "commands:") {
			t.Errorf("%v with no command: exit %d\n%s", path, code, errOut)
		}
	}
	// --since takes 30d wherever it is a flag
	for _, args := range [][]string{{"scan", "--since", "30d", "--format", "json", "../../examples/privesc-story"}, {"run", "--since", "30d", "--help"}} {
		if code, _, errOut := runCmd(t, args...); code == exitError {
			t.Errorf("%v: exit %d\n%s", args, code, errOut)
		}
	}
}

// A bad flag is named on standard error, with a pointer to --help rather than the whole help.
func TestBadFlag(t *testing.T) {
	code, out, errOut := runCmd(t, "rules", "list", "--bogus")
	if code != exitError || out != "" || errOut != "trailbell rules list: flag provided but not defined: --bogus\nRun 'trailbell rules list --help' for usage.\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	for _, c := range []struct{ args []string }{
		{[]string{"scan", "--workers", "many", "x"}},
		{[]string{"run", "--since"}},
		{[]string{"scan", "--no-progress=maybe", "x"}},
	} {
		if _, _, errOut := runCmd(t, c.args...); !strings.Contains(errOut, " --") || strings.Contains(errOut, " -"+c.args[1][2:3]) {
			t.Errorf("%v: %q names the flag with one dash", c.args, errOut)
		}
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		code, out, _ := runCmd(t, args...)
		if code != exitOK || !strings.HasPrefix(out, "trailbell ") || !strings.Contains(out, "(commit ") {
			t.Errorf("%v: exit %d, %q", args, code, out)
		}
	}
	bi := func(version string, settings ...string) *debug.BuildInfo {
		b := &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: version}}
		for i := 0; i < len(settings); i += 2 {
			b.Settings = append(b.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
		}
		return b
	}
	for _, c := range []struct {
		name            string
		version, commit string
		info            *debug.BuildInfo
		want            string
	}{
		{"a build in a checkout", "", "", bi("(devel)", "vcs.revision", "48f949a1b2c3d4e5", "vcs.time", "2026-12-03T19:43:05Z", "vcs.modified", "true"),
			"trailbell devel (commit 48f949a1b2c3d4e5, 2026-12-03T19:43:05Z, modified) go1.26.0"},
		{"go install @latest of an untagged commit", "", "", bi("v0.0.0-20261203194305-48f949a1b2c3"),
			"trailbell v0.0.0-20261203194305-48f949a1b2c3 (commit 48f949a1b2c3) go1.26.0"},
		{"go install of a release", "", "", bi("v1.2.0"), "trailbell v1.2.0 (commit unknown) go1.26.0"},
		{"make build", "v1.2.0-3-g48f949a", "48f949a1b2c3d4e5", bi("(devel)", "vcs.revision", "48f949a1b2c3d4e5"),
			"trailbell v1.2.0-3-g48f949a (commit 48f949a1b2c3d4e5) go1.26.0"},
		{"go run", "", "", bi("(devel)"), "trailbell devel (commit unknown) go1.26.0"},
	} {
		if got := formatVersion(c.version, c.commit, c.info); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}
