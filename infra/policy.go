package main

import (
	"encoding/json"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// statement is one IAM policy statement. Resources may hold outputs (ARNs of
// resources created in the same deployment); everything else is plain.
type statement struct {
	Sid        string
	Deny       bool
	Principals map[string][]string
	Actions    []string
	Resources  pulumi.StringArray
	Conditions map[string]map[string]string
}

// jsonStatement is the wire form of a statement.
type jsonStatement struct {
	Sid       string                       `json:"Sid,omitempty"`
	Effect    string                       `json:"Effect"`
	Principal map[string][]string          `json:"Principal,omitempty"`
	Action    []string                     `json:"Action"`
	Resource  []string                     `json:"Resource,omitempty"`
	Condition map[string]map[string]string `json:"Condition,omitempty"`
}

// policyDocument renders statements as an IAM policy document once every ARN
// they mention is known. Building the JSON here rather than with the
// getPolicyDocument invoke keeps the document visible to unit tests.
func policyDocument(statements ...statement) pulumi.StringOutput {
	resources := make([]any, len(statements))
	for i, s := range statements {
		resources[i] = s.Resources.ToStringArrayOutput()
	}
	return pulumi.All(resources...).ApplyT(func(values []any) (string, error) {
		doc := struct {
			Version   string          `json:"Version"`
			Statement []jsonStatement `json:"Statement"`
		}{Version: "2012-10-17"}
		for i, s := range statements {
			effect := "Allow"
			if s.Deny {
				effect = "Deny"
			}
			doc.Statement = append(doc.Statement, jsonStatement{
				Sid:       s.Sid,
				Effect:    effect,
				Principal: s.Principals,
				Action:    s.Actions,
				Resource:  values[i].([]string),
				Condition: s.Conditions,
			})
		}
		b, err := json.Marshal(doc)
		return string(b), err
	}).(pulumi.StringOutput)
}

// assumeRolePolicy lets one AWS service assume a role, but only on behalf of
// this account (the confused-deputy guard AWS recommends).
func assumeRolePolicy(service, accountID string) pulumi.StringOutput {
	return policyDocument(statement{
		Principals: map[string][]string{"Service": {service}},
		Actions:    []string{"sts:AssumeRole"},
		Conditions: map[string]map[string]string{"StringEquals": {"aws:SourceAccount": accountID}},
	})
}
