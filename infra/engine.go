package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/fargateshop/shop/platform/routing"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"
)

const (
	mockAccount = "123456789012"
	mockRegion  = "us-east-1"
)

// mockZones is what the mocked getAvailabilityZones returns.
var mockZones = []string{"us-east-1a", "us-east-1b", "us-east-1c", "us-east-1d", "us-east-1e", "us-east-1f"}

// mockSSMParameters are the public SSM parameters the mocked getParameter
// knows; any other name fails the program, as a parameter that does not
// exist fails getParameter.
var mockSSMParameters = map[string]string{
	"/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64":  "ami-0a1b2c3d4e5f60718",
	"/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64": "ami-0f1e2d3c4b5a69788",
}

// mockRouteTableID is the route table the mocked getRouteTable finds for a
// subnet: each subnet has its own, as awsx gives each subnet.
func mockRouteTableID(subnetID string) string { return "rtb-" + shortHash(subnetID) }

// recorded is one resource the program registered, as the engine saw it.
type recorded struct {
	Type, Name string
	Custom     bool
	// Parent is the parent's URN ("" only for the stack itself).
	Parent string
	// Provider is the provider reference of a custom resource;
	// Providers the provider map a component was given.
	Provider  string
	Providers map[string]string
	// DependsOn are the URNs the resource waits for (explicit dependsOn and
	// the resources its inputs come from).
	DependsOn []string
	// IgnoreChanges are the inputs up leaves as they are once created.
	IgnoreChanges []string
	Inputs        map[string]any
	Outputs       map[string]any
	// Transforms are the transforms given in the resource's options. The
	// mock engine does not run them on a component's children; tests run
	// them on what the component's provider registers (see applyTransforms).
	Transforms []pulumi.ResourceTransform
}

// recordedCall is one invoke the program made.
type recordedCall struct {
	Token, Provider string
}

// mocks is a pulumi.MockResourceMonitor that records everything and answers
// with plausible AWS values. The tests and `make plan` run the program on it.
type mocks struct {
	mu        sync.Mutex
	resources []recorded
	calls     []recordedCall
}

func (m *mocks) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	inputs := plainMap(args.Inputs)
	id, outputs := mockOutputs(args.TypeToken, args.Name, inputs)
	rec := recorded{
		Type:       args.TypeToken,
		Name:       args.Name,
		Custom:     args.Custom,
		Inputs:     inputs,
		Outputs:    outputs,
		Transforms: args.Transforms,
	}
	if rpc := args.RegisterRPC; rpc != nil {
		rec.Parent = rpc.GetParent()
		rec.Provider = rpc.GetProvider()
		rec.Providers = rpc.GetProviders()
		rec.DependsOn = rpc.GetDependencies()
		rec.IgnoreChanges = rpc.GetIgnoreChanges()
	}
	m.mu.Lock()
	m.resources = append(m.resources, rec)
	m.mu.Unlock()
	return id, resource.NewPropertyMapFromMap(outputs), nil
}

// mockManagedKeyID is the key id the mock gives an AWS managed key.
const mockManagedKeyID = "0b5e1c2d-aws-managed-sns-key"

func (m *mocks) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	m.mu.Lock()
	m.calls = append(m.calls, recordedCall{Token: args.Token, Provider: args.Provider})
	m.mu.Unlock()
	var out map[string]any
	switch args.Token {
	case "aws:index/getAvailabilityZones:getAvailabilityZones":
		out = map[string]any{"names": toAny(mockZones), "id": mockRegion}
	case "aws:index/getCallerIdentity:getCallerIdentity":
		out = map[string]any{
			"accountId": mockAccount, "id": mockAccount,
			"arn": "arn:aws:iam::" + mockAccount + ":user/ci", "userId": "AIDAEXAMPLE",
		}
	case "aws:kms/getKey:getKey":
		// The AWS managed key an alias/aws/<service> names: DescribeKey on a
		// predefined AWS alias associates it with an AWS managed key and
		// returns that key's KeyId and Arn, also before the service first
		// used it (AWS KMS API reference, DescribeKey, KeyId). A customer
		// alias is refused here so the program cannot start relying on one.
		keyID := args.Args["keyId"].StringValue()
		if !strings.HasPrefix(keyID, "alias/aws/") {
			return nil, fmt.Errorf("getKey: got keyId %q, want an AWS managed key's alias", keyID)
		}
		id := mockManagedKeyID
		out = map[string]any{"id": id, "keyId": keyID, "arn": "arn:aws:kms:" + mockRegion + ":" + mockAccount + ":key/" + id, "keyManager": "AWS"}
	case "aws:elb/getServiceAccount:getServiceAccount":
		out = map[string]any{"arn": "arn:aws:iam::127311923021:root", "id": "127311923021"}
	case "aws:ssm/getParameter:getParameter":
		name := args.Args["name"].StringValue()
		value, ok := mockSSMParameters[name]
		if !ok {
			return nil, fmt.Errorf("getParameter: parameter %s not found", name)
		}
		out = map[string]any{"name": name, "id": name, "value": value, "type": "String", "version": 1.0}
	case "aws:ec2/getRouteTable:getRouteTable":
		subnet, ok := args.Args["subnetId"]
		if !ok || !subnet.IsString() || subnet.StringValue() == "" {
			return nil, fmt.Errorf("getRouteTable: got args %v, want a subnetId", args.Args)
		}
		id := mockRouteTableID(subnet.StringValue())
		out = map[string]any{"id": id, "routeTableId": id, "subnetId": subnet.StringValue()}
	default:
		// An invoke nobody mocked is a test that would silently pass on
		// empty data: fail instead.
		return nil, fmt.Errorf("unmocked invoke %s", args.Token)
	}
	return resource.NewPropertyMapFromMap(out), nil
}

// applyTransforms runs a component's transforms, in order, on a child the
// component's provider would register, as the engine does for packaged
// components, and returns the child's final properties and options.
func applyTransforms(r recorded, child pulumi.ResourceTransformArgs) (pulumi.Map, pulumi.ResourceOptions) {
	props, opts := child.Props, child.Opts
	for _, transform := range r.Transforms {
		args := child
		args.Props, args.Opts = props, opts
		if res := transform(context.Background(), &args); res != nil {
			props, opts = res.Props, res.Opts
		}
	}
	return props, opts
}

func toAny[T any](xs []T) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = x
	}
	return out
}

// mockOutputs returns the physical ID and the state AWS would report: the
// inputs plus the computed attributes the program reads.
func mockOutputs(typ, name string, inputs map[string]any) (string, map[string]any) {
	out := map[string]any{}
	for k, v := range inputs {
		out[k] = v
	}
	id := name + "-id"
	service := "unknown"
	if parts := strings.Split(typ, ":"); len(parts) == 3 {
		service = strings.Split(parts[1], "/")[0]
	}
	setDefault := func(key string, value any) {
		if _, ok := out[key]; !ok {
			out[key] = value
		}
	}
	// Auto-named resources get the logical name plus a random-looking
	// suffix, as Pulumi's autonaming does.
	setDefault("name", name+"-"+shortHash(typ+name))
	setDefault("arn", fmt.Sprintf("arn:aws:%s:%s:%s:%s/%s", service, mockRegion, mockAccount, service, out["name"]))

	switch typ {
	case "awsx:ec2:Vpc":
		var public, private []any
		for _, z := range asSlice(inputs["availabilityZoneNames"]) {
			public = append(public, "subnet-public-"+z.(string))
			private = append(private, "subnet-private-"+z.(string))
		}
		out["vpcId"] = "vpc-" + shortHash(name)
		out["publicSubnetIds"] = public
		out["privateSubnetIds"] = private
	case "awsx:ecr:Image":
		sum := sha256.Sum256([]byte(fmt.Sprint(inputs["repositoryUrl"], inputs["imageTag"])))
		out["imageUri"] = fmt.Sprintf("%s@sha256:%s", inputs["repositoryUrl"], hex.EncodeToString(sum[:]))
	case "aws:ec2/securityGroup:SecurityGroup":
		id = "sg-" + name
	case "aws:ec2/instance:Instance":
		id = "i-" + shortHash(name)
		out["primaryNetworkInterfaceId"] = "eni-" + shortHash(name)
		if inputs["associatePublicIpAddress"] == true {
			out["publicIp"] = "203.0.113.10" // TEST-NET-3 (RFC 5737)
		}
	case "aws:lb/loadBalancer:LoadBalancer":
		out["arnSuffix"] = fmt.Sprintf("app/%s/%s", out["name"], shortHash(name))
		out["dnsName"] = fmt.Sprintf("%s-%s.%s.elb.amazonaws.com", out["name"], shortHash(name), mockRegion)
	case "aws:lb/targetGroup:TargetGroup":
		out["arnSuffix"] = fmt.Sprintf("targetgroup/%s/%s", out["name"], shortHash(name))
	case "aws:ecr/repository:Repository":
		out["repositoryUrl"] = fmt.Sprintf("%s.dkr.ecr.%s.amazonaws.com/%s", mockAccount, mockRegion, out["name"])
	case "aws:cloudwatch/logGroup:LogGroup":
		out["arn"] = fmt.Sprintf("arn:aws:logs:%s:%s:log-group:%s", mockRegion, mockAccount, out["name"])
	case "aws:s3/bucketV2:BucketV2":
		out["bucket"] = name + "-" + shortHash(name)
		out["arn"] = "arn:aws:s3:::" + out["bucket"].(string)
		id = out["bucket"].(string)
	case "aws:rds/instance:Instance":
		out["address"] = fmt.Sprintf("%s.%s.%s.rds.amazonaws.com", out["name"], shortHash(name), mockRegion)
		out["masterUserSecrets"] = []any{map[string]any{
			"secretArn":    fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:rds!db-%s", mockRegion, mockAccount, shortHash(name)),
			"secretStatus": "active",
		}}
	case "aws:secretsmanager/secret:Secret":
		out["arn"] = fmt.Sprintf("arn:aws:secretsmanager:%s:%s:secret:%s", mockRegion, mockAccount, out["name"])
		id = out["arn"].(string) // a secret's ID is its ARN
	case "aws:secretsmanager/secretVersion:SecretVersion":
		out["arn"] = inputs["secretId"]
	case "aws:sns/topic:Topic":
		out["arn"] = fmt.Sprintf("arn:aws:sns:%s:%s:%s", mockRegion, mockAccount, out["name"])
		id = out["arn"].(string) // a topic's ID is its ARN
	case "aws:sqs/queue:Queue":
		out["arn"] = fmt.Sprintf("arn:aws:sqs:%s:%s:%s", mockRegion, mockAccount, out["name"])
		out["url"] = fmt.Sprintf("https://sqs.%s.amazonaws.com/%s/%s", mockRegion, mockAccount, out["name"])
		id = out["url"].(string) // a queue's ID is its URL
	case "aws:iam/role:Role":
		out["arn"] = fmt.Sprintf("arn:aws:iam::%s:role/%s", mockAccount, out["name"])
	case "random:index/randomPassword:RandomPassword":
		out["result"] = "generated-" + shortHash(name)
	}
	return id, out
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:7]
}

// plainMap turns engine property values into plain Go values, unwrapping
// secrets so tests can look inside them.
func plainMap(pm resource.PropertyMap) map[string]any {
	out := map[string]any{}
	for k, v := range pm {
		if pv := plainValue(v); pv != nil {
			out[string(k)] = pv
		}
	}
	return out
}

func plainValue(v resource.PropertyValue) any {
	return v.MapRepl(nil, func(v resource.PropertyValue) (any, bool) {
		switch {
		case v.IsSecret():
			return plainValue(v.SecretValue().Element), true
		case v.IsOutput():
			return plainValue(v.OutputValue().Element), true
		case v.IsResourceReference():
			return string(v.ResourceReferenceValue().URN), true
		}
		return nil, false
	})
}

// stack is what one program run produced.
type stack struct {
	resources []recorded
	calls     []recordedCall
}

// ofType returns the resources of one type token, in name order.
func (s *stack) ofType(typ string) []recorded {
	var out []recorded
	for _, r := range s.resources {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// one returns the resource of a type with a logical name, failing through r
// when there is none.
func (s *stack) one(t reporter, typ, name string) recorded {
	t.Helper()
	for _, r := range s.resources {
		if r.Type == typ && r.Name == name {
			return r
		}
	}
	t.Fatalf("no %s named %q", typ, name)
	return recorded{}
}

// where returns the resources of a type whose input key equals value.
func (s *stack) where(typ, key string, value any) []recorded {
	var out []recorded
	for _, r := range s.ofType(typ) {
		if fmt.Sprint(r.Inputs[key]) == fmt.Sprint(value) {
			out = append(out, r)
		}
	}
	return out
}

// runProgram runs the whole program under mocks with the given stack config:
// no AWS account, no network, no Pulumi CLI.
func runProgram(services []routing.Service, stackName string, config map[string]string, secretKeys ...string) (*stack, error) {
	m := &mocks{}
	err := pulumi.RunErr(program(services),
		pulumi.WithMocks("shop", stackName, m),
		func(info *pulumi.RunInfo) {
			info.Config = config
			info.ConfigSecretKeys = secretKeys
		})
	m.mu.Lock()
	defer m.mu.Unlock()
	return &stack{resources: m.resources, calls: m.calls}, err
}

// readStackConfig reads a Pulumi stack file into the flat key/value form the
// engine hands to programs (structured values as JSON).
func readStackConfig(path string) (map[string]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var file struct {
		Config map[string]any `yaml:"config"`
	}
	if err := yaml.Unmarshal(raw, &file); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := map[string]string{}
	for k, v := range file.Config {
		switch v := v.(type) {
		case string:
			out[k] = v
		case map[string]any, []any:
			b, err := json.Marshal(v)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", path, k, err)
			}
			out[k] = string(b)
		default:
			out[k] = fmt.Sprint(v)
		}
	}
	return out, nil
}

// Small accessors for nested plain values.

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func asStrings(v any) []string {
	var out []string
	for _, x := range asSlice(v) {
		out = append(out, fmt.Sprint(x))
	}
	return out
}

// number reads a number the engine may carry as float64, int or string
// (task CPU and memory are strings); ok is false when there is none.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int:
		return float64(n), true
	case string:
		f, err := strconv.ParseFloat(n, 64)
		return f, err == nil
	}
	return 0, false
}

// num is number where a missing value reads as 0.
func num(v any) float64 {
	f, _ := number(v)
	return f
}

// path walks nested maps and lists: dig(r.Inputs, "healthCheck", "interval").
// Integer-like string keys index lists.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		switch c := v.(type) {
		case map[string]any:
			v = c[k]
		case []any:
			var i int
			if _, err := fmt.Sscan(k, &i); err != nil || i >= len(c) {
				return nil
			}
			v = c[i]
		default:
			return nil
		}
	}
	return v
}
