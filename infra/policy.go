package main

import (
	"encoding/json"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// statement is one IAM policy statement. Principals, resources and condition
// values may hold outputs (ARNs of resources created in the same
// deployment, such as the role a topic admits); Sid, effect and actions are
// plain.
type statement struct {
	Sid        string
	Deny       bool
	Principals pulumi.StringArrayMap
	Actions    []string
	Resources  pulumi.StringArray
	Conditions pulumi.StringMapMap
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
	// Three values per statement: resources, principals, conditions.
	values := make([]any, 0, 3*len(statements))
	for _, s := range statements {
		values = append(values, s.Resources.ToStringArrayOutput(),
			s.Principals.ToStringArrayMapOutput(), s.Conditions.ToStringMapMapOutput())
	}
	return pulumi.All(values...).ApplyT(func(values []any) (string, error) {
		doc := struct {
			Version   string          `json:"Version"`
			Statement []jsonStatement `json:"Statement"`
		}{Version: "2012-10-17"}
		for i, s := range statements {
			effect := "Allow"
			if s.Deny {
				effect = "Deny"
			}
			v := values[3*i : 3*i+3]
			// Unset principals and conditions resolve to nil maps.
			principals, _ := v[1].(map[string][]string)
			conditions, _ := v[2].(map[string]map[string]string)
			doc.Statement = append(doc.Statement, jsonStatement{
				Sid:       s.Sid,
				Effect:    effect,
				Principal: principals,
				Action:    s.Actions,
				Resource:  v[0].([]string),
				Condition: conditions,
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
		Principals: pulumi.StringArrayMap{"Service": pulumi.ToStringArray([]string{service})},
		Actions:    []string{"sts:AssumeRole"},
		Conditions: pulumi.StringMapMap{"StringEquals": pulumi.StringMap{"aws:SourceAccount": pulumi.String(accountID)}},
	})
}

// denyInsecureTransport is the condition of the statements that refuse every
// request made without TLS (S3.5, and the same rule on topics and queues).
var denyInsecureTransport = pulumi.StringMapMap{"Bool": pulumi.StringMap{"aws:SecureTransport": pulumi.String("false")}}

// anyone is the principal of a Deny statement that holds for every caller.
var anyone = pulumi.StringArrayMap{"AWS": pulumi.ToStringArray([]string{"*"})}
