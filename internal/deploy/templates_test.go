package deploy

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7/intrinsics"
)

const deployDir = "../../deploy"

// neededActions is every IAM action the templates may grant, and why. A test fails on any
// other action and on any wildcard, so widening the role is a deliberate change here.
var neededActions = map[string]string{
	"logs:CreateLogStream":          "function logs",
	"logs:PutLogEvents":             "function logs",
	"secretsmanager:GetSecretValue": "the Slack secret; the Slack app's signing secret (interactive alerts)",
	"lambda:InvokeFunction":         "the function invoking itself to do an interaction's work after answering Slack (its own ARN only)",
	"sqs:ReceiveMessage":            "log-file queue (event source mapping)",
	"sqs:DeleteMessage":             "log-file queue (event source mapping)",
	"sqs:GetQueueAttributes":        "log-file queue (event source mapping)",
	"sqs:SendMessage":               "dead-letter queue of failed asynchronous invocations; S3 and EventBridge queue policies",
	"s3:GetObject":                  "log files under the trail prefix",
	"kms:Decrypt":                   "SSE-KMS trail log files",
	"dynamodb:PutItem":              "dedupe claim (optional table)",
	"dynamodb:DeleteItem":           "dedupe release after a failed delivery (optional table); state of rules with memory",
	"dynamodb:GetItem":              "state of rules with memory (version item)",
	"dynamodb:BatchGetItem":         "state of rules with memory",
	"dynamodb:Query":                "state of rules with memory (the records held back)",
	"dynamodb:UpdateItem":           "state of rules with memory (version item)",
	"dynamodb:BatchWriteItem":       "state of rules with memory (commits past one transaction)",
	"dynamodb:ConditionCheckItem":   "state of rules with memory (transactions)",
	"ssm:GetParameter":              "configuration parameter (optional)",
	"sts:AssumeRole":                "trust policies",
	"events:PutEvents":              "member forwarder to the central bus; central bus policy",
}

func TestCloudFormationTemplatesParse(t *testing.T) {
	for _, name := range []string{"template.yaml", "member-forwarder.yaml"} {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(deployDir, "cloudformation", name))
			if err != nil {
				t.Fatal(err)
			}
			tpl, err := ParseTemplate(data, false)
			if err != nil {
				t.Fatal(err)
			}
			slots := 0
			for _, r := range tpl.GetAllEventsRuleResources() {
				if r.EventPattern != nil {
					slots++ // the state schedule has none
				}
			}
			if slots != TemplateSlots {
				t.Errorf("%d EventBridge rules with a pattern, want %d pattern slots", slots, TemplateSlots)
			}
			if len(tpl.GetAllIAMRoleResources()) != 1 {
				t.Errorf("%d IAM roles, want 1", len(tpl.GetAllIAMRoleResources()))
			}
			if name != "template.yaml" {
				return
			}
			if n := len(tpl.GetAllServerlessFunctionResources()); n != 1 {
				t.Errorf("%d functions, want 1", n)
			}
			for _, fn := range tpl.GetAllServerlessFunctionResources() {
				if aws(fn.Runtime) != "provided.al2023" || aws(fn.Handler) != "bootstrap" {
					t.Errorf("function runtime %q handler %q, want provided.al2023 and bootstrap", aws(fn.Runtime), aws(fn.Handler))
				}
				if fn.Timeout == nil || *fn.Timeout*6 > 720 {
					t.Error("the log queue's visibility timeout (720 s) must be at least six times the function timeout")
				}
				// Refs to resources resolve to nothing offline: check the key only.
				if fn.Environment == nil {
					t.Error("the function has no environment")
				} else if _, ok := fn.Environment.Variables["TRAILBELL_SLACK_WEBHOOK_SECRET"]; !ok {
					t.Error("the function is not given its Slack secret")
				}
			}
			if n := len(tpl.GetAllSQSQueueResources()); n != 2 {
				t.Errorf("%d queues, want the log-file queue and the dead-letter queue", n)
			}
			if n := len(tpl.GetAllCloudWatchAlarmResources()); n != 2 {
				t.Errorf("%d alarms, want function errors and dead letters", n)
			}
			if n := len(tpl.GetAllSecretsManagerSecretResources()); n != 2 {
				t.Errorf("%d secrets, want the Slack webhook's and the Slack app's signing secret", n)
			}
			if n := len(tpl.GetAllLambdaEventSourceMappingResources()); n != 1 {
				t.Errorf("%d event source mappings, want 1", n)
			} else {
				for _, m := range tpl.GetAllLambdaEventSourceMappingResources() {
					if !slices.Contains(m.FunctionResponseTypes, "ReportBatchItemFailures") {
						t.Error("SQS event source mapping without ReportBatchItemFailures: one bad file would return the whole batch")
					}
				}
			}
		})
	}
}

// TestCloudFormationRegionAssertion guards the us-east-1 trap: a stack on the default bus must
// refuse to deploy elsewhere.
func TestCloudFormationRegionAssertion(t *testing.T) {
	for _, name := range []string{"template.yaml", "member-forwarder.yaml"} {
		doc := cfnJSON(t, filepath.Join(deployDir, "cloudformation", name))
		rules, _ := doc["Rules"].(map[string]any)
		b, _ := json.Marshal(rules)
		if !strings.Contains(string(b), `{"Fn::Equals":[{"Ref":"AWS::Region"},"us-east-1"]}`) {
			t.Errorf("%s: no Rules assertion that AWS::Region is us-east-1: %s", name, b)
		}
	}
}

func TestTemplatesGrantOnlyNeededActions(t *testing.T) {
	for _, name := range []string{"template.yaml", "member-forwarder.yaml"} {
		doc := cfnJSON(t, filepath.Join(deployDir, "cloudformation", name))
		resources, _ := doc["Resources"].(map[string]any)
		var actions []string
		for id, r := range resources {
			res, _ := r.(map[string]any)
			props, _ := res["Properties"].(map[string]any)
			walkStatements(props, func(st map[string]any) {
				for _, a := range stringsOf(st["Action"]) {
					actions = append(actions, a)
				}
				if slices.Contains(stringsOf(st["Resource"]), "*") {
					t.Errorf("%s: %s: statement %v grants on every resource", name, id, st["Sid"])
				}
			})
		}
		checkActions(t, name, actions)
	}

	tfActions := regexp.MustCompile(`(?s)\bactions\s*=\s*\[(.*?)\]`)
	tfJSONAction := regexp.MustCompile(`\bAction\s*=\s*(\[[^\]]*\]|"[^"]*")`)
	tfResources := regexp.MustCompile(`(?s)\bresources\s*=\s*\[(.*?)\]|\bResource\s*=\s*"\*"`)
	quoted := regexp.MustCompile(`"([^"]*)"`)
	files, _ := filepath.Glob(filepath.Join(deployDir, "terraform", "*.tf"))
	more, _ := filepath.Glob(filepath.Join(deployDir, "terraform", "*", "*.tf"))
	files = append(files, more...)
	if len(files) < 3 {
		t.Fatalf("found %d Terraform files under %s", len(files), deployDir)
	}
	var actions []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range tfActions.FindAllStringSubmatch(string(b), -1) {
			for _, q := range quoted.FindAllStringSubmatch(m[1], -1) {
				actions = append(actions, q[1])
			}
		}
		for _, m := range tfJSONAction.FindAllStringSubmatch(string(b), -1) {
			for _, q := range quoted.FindAllStringSubmatch(m[1], -1) {
				actions = append(actions, q[1])
			}
		}
		for _, m := range tfResources.FindAllStringSubmatch(string(b), -1) {
			if m[1] == "" || strings.Contains(m[1], `"*"`) {
				t.Errorf("%s: wildcard resource: %s", f, m[0])
			}
		}
	}
	if !slices.Contains(actions, "s3:GetObject") || !slices.Contains(actions, "secretsmanager:GetSecretValue") {
		t.Fatalf("Terraform policies not found (parsed actions %v)", actions)
	}
	checkActions(t, "terraform", actions)
}

func checkActions(t *testing.T, where string, actions []string) {
	t.Helper()
	if len(actions) == 0 {
		t.Errorf("%s: no IAM actions found: the parser missed the policies", where)
	}
	for _, a := range actions {
		if _, ok := neededActions[a]; !ok {
			t.Errorf("%s: grants %q, which is not on the needed list", where, a)
		}
	}
}

// cfnJSON reads a template with its short-form intrinsics (!Ref, !If) turned into long form,
// unresolved, so every conditional statement is visible.
func cfnJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out, err := intrinsics.ProcessYAML(data, &intrinsics.ProcessorOptions{NoProcess: true})
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return doc
}

// walkStatements calls fn for every policy statement (a map with Effect) anywhere under v.
func walkStatements(v any, fn func(map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		if _, ok := x["Effect"]; ok {
			fn(x)
		}
		for _, c := range x {
			walkStatements(c, fn)
		}
	case []any:
		for _, c := range x {
			walkStatements(c, fn)
		}
	}
}

func stringsOf(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func TestTemplatePatternsFileForms(t *testing.T) {
	dir := t.TempDir()
	p := `{"source":["aws.iam"]}`
	files := map[string]string{
		"list-of-strings.json": `["{\"source\":[\"aws.iam\"]}", ""]`,
		"list-of-objects.json": `[{"source":["aws.iam"]}]`,
		"vars.tfvars.json":     `{"event_patterns":["{\"source\":[\"aws.iam\"]}"]}`,
	}
	for name, body := range files {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := TemplatePatterns(path)
		if err != nil || len(got) != 1 {
			t.Errorf("%s: %v, %v", name, got, err)
			continue
		}
		if c, _ := Compact(got[0]); c != p {
			t.Errorf("%s: %s, want %s", name, c, p)
		}
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`[1]`), 0o644)
	if _, err := TemplatePatterns(bad); err == nil || !strings.Contains(err.Error(), "pattern 1") {
		t.Errorf("bad list: %v", err)
	}
}

func aws(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// The function starts with exactly one destination: given a configuration parameter, the
// template must not also set the Slack secret (the function would refuse both). goformation
// resolves !If without its condition, so the unresolved !If is evaluated here for both cases.
func TestCloudFormationFunctionHasOneDestination(t *testing.T) {
	doc := cfnJSON(t, filepath.Join(deployDir, "cloudformation", "template.yaml"))
	var fn struct {
		Properties struct {
			Environment struct{ Variables map[string]any }
		}
	}
	b, _ := json.Marshal(doc["Resources"].(map[string]any)["TrailbellFunction"])
	if err := json.Unmarshal(b, &fn); err != nil {
		t.Fatal(err)
	}
	vars := fn.Properties.Environment.Variables
	for _, tc := range []struct {
		hasConfigParameter bool
		want               string
	}{{false, "TRAILBELL_SLACK_WEBHOOK_SECRET"}, {true, "TRAILBELL_CONFIG_SSM"}} {
		var got []string
		for _, k := range []string{"TRAILBELL_SLACK_WEBHOOK_SECRET", "TRAILBELL_CONFIG_SSM", "TRAILBELL_SLACK_WEBHOOK_URL", "TRAILBELL_CONFIG"} {
			v, ok := vars[k]
			if !ok {
				continue
			}
			if m, _ := v.(map[string]any); m["Fn::If"] != nil {
				branches, _ := m["Fn::If"].([]any)
				if len(branches) != 3 || branches[0] != "HasConfigParameter" {
					t.Fatalf("%s: %v, want !If [HasConfigParameter, then, else]", k, v)
				}
				v = branches[2]
				if tc.hasConfigParameter {
					v = branches[1]
				}
			}
			if m, _ := v.(map[string]any); m["Ref"] == "AWS::NoValue" {
				continue
			}
			got = append(got, k)
		}
		if len(got) != 1 || got[0] != tc.want {
			t.Errorf("with a configuration parameter %v: destination variables %v, want only %s", tc.hasConfigParameter, got, tc.want)
		}
	}
}

// TestCloudFormationInteractions: the function URL of Slack's interactivity requests is public
// (Slack cannot sign AWS requests) and may only invoke the function through the URL; the
// function may invoke nothing but itself; it gets the signing secret it verifies them with.
func TestCloudFormationInteractions(t *testing.T) {
	doc := cfnJSON(t, filepath.Join(deployDir, "cloudformation", "template.yaml"))
	resources := doc["Resources"].(map[string]any)
	get := func(id string) map[string]any {
		r, _ := resources[id].(map[string]any)
		if r == nil {
			t.Fatalf("no resource %s", id)
		}
		return r
	}
	props := func(id string) map[string]any { p, _ := get(id)["Properties"].(map[string]any); return p }
	if u := get("InteractionsUrl"); u["Type"] != "AWS::Lambda::Url" || u["Condition"] != "Interactions" || props("InteractionsUrl")["AuthType"] != "NONE" {
		t.Errorf("InteractionsUrl %v", u)
	}
	public := map[string]map[string]any{}
	for id, r := range resources {
		res := r.(map[string]any)
		if res["Type"] != "AWS::Lambda::Permission" {
			continue
		}
		p := res["Properties"].(map[string]any)
		if p["Principal"] == "*" {
			public[id] = p
			if res["Condition"] != "Interactions" {
				t.Errorf("%s: a public permission outside the Interactions condition", id)
			}
		}
	}
	if len(public) != 2 {
		t.Fatalf("public permissions %v, want the URL's two", public)
	}
	url, invoke := public["InteractionsUrlPermission"], public["InteractionsInvokePermission"]
	if url["Action"] != "lambda:InvokeFunctionUrl" || url["FunctionUrlAuthType"] != "NONE" {
		t.Errorf("InteractionsUrlPermission %v", url)
	}
	// Without InvokedViaFunctionUrl anyone in any account could invoke the function directly.
	if invoke["Action"] != "lambda:InvokeFunction" || invoke["InvokedViaFunctionUrl"] != true {
		t.Errorf("InteractionsInvokePermission %v, want lambda:InvokeFunction only via the function URL", invoke)
	}
	fn := props("TrailbellFunction")
	if name, _ := json.Marshal(fn["FunctionName"]); !strings.Contains(string(name), "${AWS::StackName}-trailbell") {
		t.Fatalf("function name %s", name)
	}
	found := false
	walkStatements(props("FunctionRole"), func(st map[string]any) {
		if !slices.Contains(stringsOf(st["Action"]), "lambda:InvokeFunction") {
			return
		}
		found = true
		res, _ := json.Marshal(st["Resource"])
		if !strings.Contains(string(res), `function:${AWS::StackName}-trailbell"`) {
			t.Errorf("lambda:InvokeFunction on %s, want the function itself", res)
		}
	})
	if !found {
		t.Error("the role cannot invoke the function: the work after an interaction would wait for the schedule")
	}
	env, _ := json.Marshal(fn["Environment"])
	if !strings.Contains(string(env), `"TRAILBELL_SLACK_SIGNING_SECRET":{"Fn::If":["Interactions",{"Fn::Sub":"secretsmanager:${SlackSigningSecretStore}"}`) {
		t.Errorf("the signing secret is not passed as a reference: %s", env)
	}
	out, _ := json.Marshal(doc["Outputs"].(map[string]any)["InteractionsUrl"])
	if !strings.Contains(string(out), `slack/interactions"`) {
		t.Errorf("InteractionsUrl output %s", out)
	}
}

// TestParseTemplateRefusesUnknown: only the newer properties goformation does not know are
// let through; any other unknown property is still an error.
func TestParseTemplateRefusesUnknown(t *testing.T) {
	tpl := func(prop string) []byte {
		return []byte("Resources:\n  P:\n    Type: AWS::Lambda::Permission\n    Properties:\n      FunctionName: f\n      Action: lambda:InvokeFunction\n      Principal: \"*\"\n      " + prop + "\n")
	}
	if _, err := ParseTemplate(tpl("InvokedViaFunctionUrl: true"), false); err != nil {
		t.Errorf("InvokedViaFunctionUrl: %v", err)
	}
	if _, err := ParseTemplate(tpl("InvokedViaFunctionUrls: true"), false); err == nil {
		t.Error("a misspelt property was accepted")
	}
	if _, err := ParseTemplate([]byte("Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      InvokedViaFunctionUrl: true\n"), false); err == nil {
		t.Error("InvokedViaFunctionUrl was accepted on a resource that has no such property")
	}
}
