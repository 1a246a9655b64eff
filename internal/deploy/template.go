package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/intrinsics"
)

// TemplatePatterns returns the event patterns a deployment file would deploy: the
// AWS::Events::Rule patterns of a CloudFormation/SAM template (parameter defaults resolved),
// the list in a JSON file of patterns such as the Terraform module's event-patterns.json, or
// the event_patterns of a Terraform variables file (.tfvars.json).
// Empty patterns (unused optional slots) are left out.
func TemplatePatterns(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if strings.HasSuffix(path, ".json") && bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) {
		// Terraform variables (deploy pattern --format tfvars), unless it is a template.
		var vars struct {
			Patterns json.RawMessage `json:"event_patterns"`
		}
		if json.Unmarshal(data, &vars) == nil && vars.Patterns != nil {
			data = vars.Patterns
		}
	}
	if strings.HasSuffix(path, ".json") && bytes.HasPrefix(bytes.TrimSpace(data), []byte("[")) {
		var list []json.RawMessage
		if err := json.Unmarshal(data, &list); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		var out []string
		for i, raw := range list {
			p, err := patternText(raw)
			if err != nil {
				return nil, fmt.Errorf("%s: pattern %d: %w", path, i+1, err)
			}
			if p != "" {
				out = append(out, p)
			}
		}
		return out, nil
	}
	tpl, err := ParseTemplate(data, filepath.Ext(path) == ".json")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	rules := tpl.GetAllEventsRuleResources()
	names := make([]string, 0, len(rules))
	for name := range rules {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []string
	for _, name := range names {
		ep := rules[name].EventPattern
		if ep == nil {
			continue
		}
		var p string
		switch v := ep.(type) {
		case string:
			p = v
		default:
			b, err := json.Marshal(v)
			if err != nil {
				return nil, fmt.Errorf("%s: resource %s: EventPattern: %w", path, name, err)
			}
			p = string(b)
		}
		if strings.TrimSpace(p) != "" {
			out = append(out, p)
		}
	}
	return out, nil
}

// newerProperties are resource properties CloudFormation has that goformation v7.14.9 (its
// last release) does not know and would refuse as unknown: InvokedViaFunctionUrl limits a
// public lambda:InvokeFunction grant to calls through the function URL (October 2025).
var newerProperties = map[string][]string{"AWS::Lambda::Permission": {"InvokedViaFunctionUrl"}}

// ParseTemplate parses a CloudFormation/SAM template (YAML, or JSON when isJSON) with
// goformation, its parameter defaults resolved, leaving out the newerProperties it would
// refuse; every other unknown property or wrong type is still an error.
func ParseTemplate(data []byte, isJSON bool) (*cloudformation.Template, error) {
	if !isJSON {
		// short-form intrinsics in long form, unresolved: goformation resolves them below
		var err error
		if data, err = intrinsics.ProcessYAML(data, &intrinsics.ProcessorOptions{NoProcess: true}); err != nil {
			return nil, err
		}
	}
	var doc map[string]any
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	resources, _ := doc["Resources"].(map[string]any)
	for _, r := range resources {
		res, _ := r.(map[string]any)
		props, _ := res["Properties"].(map[string]any)
		typ, _ := res["Type"].(string)
		for _, name := range newerProperties[typ] {
			delete(props, name)
		}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	return goformation.ParseJSON(b)
}

// patternText accepts a pattern given as a JSON string or as an object.
func patternText(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var obj map[string]any
	if err := json.Unmarshal(raw, &obj); err != nil {
		return "", fmt.Errorf("neither a string nor an object: %w", err)
	}
	return string(raw), nil
}

// Compact returns a canonical form of a pattern (keys sorted, no spaces) for comparison.
func Compact(p string) (string, error) {
	dec := json.NewDecoder(strings.NewReader(p))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", err
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}
