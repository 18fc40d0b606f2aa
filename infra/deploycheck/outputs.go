package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// outputs is the part of `pulumi stack output --json` that deploycheck reads.
// The Pulumi program (infra/main.go) exports these keys.
type outputs struct {
	Region  string
	Cluster string
	Apps    []app // sorted by name
}

// app is one deployed app, named as in platform/routing.
type app struct {
	Name           string
	Service        string // ECS service name
	TaskDefinition string // ARN of the task definition this stack registered
	TargetGroup    string // ARN
	LogGroup       string
}

// parseOutputs reads the stack outputs. Every problem found is reported in
// one error, so one run shows everything that is wrong with the contract.
func parseOutputs(data []byte) (outputs, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil || raw == nil {
		return outputs{}, fmt.Errorf("stack outputs are not a JSON object (want `pulumi stack output --json`): %s", firstLine(data))
	}

	var problems []string
	str := func(key string) string {
		v, ok := raw[key]
		if !ok {
			problems = append(problems, "missing "+key)
			return ""
		}
		s, problem := stringValue(key, v)
		if problem != "" {
			problems = append(problems, problem)
		}
		return s
	}
	strMap := func(key string) map[string]string {
		v, ok := raw[key]
		if !ok {
			problems = append(problems, "missing "+key)
			return nil
		}
		var fields map[string]json.RawMessage
		if kind := jsonKind(v); kind != "an object" {
			problems = append(problems, fmt.Sprintf("%s is %s, want an object of app name to string", key, kind))
			return nil
		}
		if err := json.Unmarshal(v, &fields); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", key, err))
			return nil
		}
		m := map[string]string{}
		for _, name := range slices.Sorted(maps.Keys(fields)) {
			s, problem := stringValue(key+"."+name, fields[name])
			if problem != "" {
				problems = append(problems, problem)
				continue
			}
			m[name] = s
		}
		return m
	}

	out := outputs{Region: str("region"), Cluster: str("clusterName")}
	services := strMap("serviceNames")
	taskDefinitions := strMap("taskDefinitionArns")
	targetGroups := strMap("targetGroupArns")
	logGroups := strMap("logGroupNames")

	if services != nil && len(services) == 0 {
		problems = append(problems, "serviceNames is empty")
	}
	// The maps describe the same apps: an app in one and not in another
	// means the program and this command disagree about the contract.
	for _, other := range []struct {
		key string
		m   map[string]string
	}{{"taskDefinitionArns", taskDefinitions}, {"targetGroupArns", targetGroups}, {"logGroupNames", logGroups}} {
		if services == nil || other.m == nil {
			continue
		}
		for _, name := range slices.Sorted(maps.Keys(services)) {
			if _, ok := other.m[name]; !ok {
				problems = append(problems, fmt.Sprintf("%s has no entry for %s", other.key, name))
			}
		}
		for _, name := range slices.Sorted(maps.Keys(other.m)) {
			if _, ok := services[name]; !ok {
				problems = append(problems, fmt.Sprintf("%s has %s, which serviceNames lacks", other.key, name))
			}
		}
	}
	if len(problems) > 0 {
		return outputs{}, errors.New("stack outputs: " + strings.Join(problems, "; "))
	}

	for _, name := range slices.Sorted(maps.Keys(services)) {
		out.Apps = append(out.Apps, app{
			Name:           name,
			Service:        services[name],
			TaskDefinition: taskDefinitions[name],
			TargetGroup:    targetGroups[name],
			LogGroup:       logGroups[name],
		})
	}
	return out, nil
}

// stringValue returns the non-empty string in v, or a problem naming key.
func stringValue(key string, v json.RawMessage) (string, string) {
	var s string
	if kind := jsonKind(v); kind != "a string" {
		return "", fmt.Sprintf("%s is %s, want a string", key, kind)
	}
	if err := json.Unmarshal(v, &s); err != nil {
		return "", fmt.Sprintf("%s: %v", key, err)
	}
	if strings.TrimSpace(s) == "" {
		return "", key + " is empty"
	}
	return s, ""
}

// jsonKind names the kind of a JSON value for error messages.
func jsonKind(v json.RawMessage) string {
	t := strings.TrimSpace(string(v))
	if t == "" {
		return "empty"
	}
	switch t[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

// firstLine is the start of data, for an error message that stays one line.
func firstLine(data []byte) string {
	s := strings.TrimSpace(string(data))
	if s == "" {
		return "input is empty"
	}
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " ..."
	}
	if len(s) > 60 {
		s = s[:60] + " ..."
	}
	return fmt.Sprintf("%q", s)
}
