package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/fargateshop/shop/platform/routing"
	"gopkg.in/yaml.v3"
)

// projectSchema reads the config schema of Pulumi.yaml.
func projectSchema(t *testing.T) map[string]struct {
	Type    string `yaml:"type"`
	Default any    `yaml:"default"`
} {
	t.Helper()
	raw, err := os.ReadFile("../Pulumi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var project struct {
		Name    string `yaml:"name"`
		Runtime string `yaml:"runtime"`
		Main    string `yaml:"main"`
		Config  map[string]struct {
			Type    string `yaml:"type"`
			Default any    `yaml:"default"`
		} `yaml:"config"`
	}
	if err := yaml.Unmarshal(raw, &project); err != nil {
		t.Fatal(err)
	}
	if project.Name != "shop" || project.Runtime != "go" || strings.TrimSuffix(project.Main, "/") != "infra" {
		t.Errorf("got name %q runtime %q main %q, want shop, go, infra/", project.Name, project.Runtime, project.Main)
	}
	return project.Config
}

// TestPulumiYAMLMatchesDefaults keeps the schema the CLI applies and the
// defaults the program applies under test identical.
func TestPulumiYAMLMatchesDefaults(t *testing.T) {
	schema := projectSchema(t)
	for key, want := range settings {
		entry, ok := schema[key]
		if !ok {
			t.Errorf("%s: has a default in config.go but is not declared in Pulumi.yaml", key)
			continue
		}
		if got := fmt.Sprint(entry.Default); got != want.Default {
			t.Errorf("%s: Pulumi.yaml default %q, config.go default %q", key, got, want.Default)
		}
		if entry.Type != want.Type {
			t.Errorf("%s: Pulumi.yaml type %q, config.go type %q", key, entry.Type, want.Type)
		}
		switch want.Type {
		case "integer":
			if _, err := strconv.Atoi(want.Default); err != nil {
				t.Errorf("%s: default %q is not an integer", key, want.Default)
			}
		case "boolean":
			if _, err := strconv.ParseBool(want.Default); err != nil {
				t.Errorf("%s: default %q is not a boolean", key, want.Default)
			}
		}
	}
	for key := range schema {
		if _, ok := settings[key]; !ok {
			t.Errorf("%s: declared in Pulumi.yaml but unknown to config.go", key)
		}
	}
}

// TestStackFilesUseDeclaredKeys catches typos: Pulumi accepts an unknown key
// silently and the program would run with the default.
func TestStackFilesUseDeclaredKeys(t *testing.T) {
	schema := projectSchema(t)
	for _, file := range []string{"../Pulumi.dev.yaml", "../docs/Pulumi.prod.example.yaml"} {
		for key := range stackConfig(t, file) {
			ns, name, _ := strings.Cut(key, ":")
			if ns == "shop" {
				if _, ok := schema[name]; !ok && name != "adminToken" {
					t.Errorf("%s: %s is not a declared config key", file, key)
				}
			} else if ns == "plan" {
				// make plan's usage assumptions; the program reads none.
				if _, ok := defaultAssumptions()[name]; !ok {
					t.Errorf("%s: %s is not an assumption make plan knows", file, key)
				}
			} else if ns != "aws" && ns != "pulumi" {
				t.Errorf("%s: %s has an unexpected namespace", file, key)
			}
		}
	}
}

func TestInvalidConfigIsReportedAtOnce(t *testing.T) {
	dev := stackConfig(t, "../Pulumi.dev.yaml")
	bad := with(dev, map[string]string{
		"shop:natGateways":       "Double",
		"shop:availabilityZones": "1",
		"shop:cpu":               "300",
		"shop:minTasks":          "3",
		"shop:maxTasks":          "2",
		"shop:platform":          "windows/amd64",
		"shop:logRetentionDays":  "10",
		"shop:dbMultiAz":         "maybe",
		"shop:fargateWeight":     "0",
		"shop:fargateSpotWeight": "0",
	})
	delete(bad, "aws:region")
	st, err := runProgram(routing.Services, "dev", bad)
	if err == nil {
		t.Fatal("got no error, want the invalid keys reported")
	}
	wantKeys := []string{"aws:region", "natGateways", "availabilityZones", "cpu/memory", "minTasks/maxTasks",
		"platform", "logRetentionDays", "dbMultiAz", "fargateWeight"}
	for _, key := range wantKeys {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("got error %q, want it to mention %s", err, key)
		}
	}
	for _, r := range st.resources {
		if r.Custom {
			t.Errorf("got %s %q created from invalid config, want nothing", r.Type, r.Name)
		}
	}
}

// TestConfigValuesAreValidated proves the levers' settings refuse what AWS
// would refuse, or what the program cannot build, at preview, with a message
// naming the key.
func TestConfigValuesAreValidated(t *testing.T) {
	dev := stackConfig(t, "../Pulumi.dev.yaml")
	cases := []settingCase{
		{"NAT instance", map[string]string{"shop:natGateways": "Instance"}, ""},
		{"one NAT gateway", map[string]string{"shop:natGateways": "Single"}, ""},
		{"NAT gateway per zone", map[string]string{"shop:natGateways": "OnePerAz"}, ""},
		{"NAT strategy in lower case", map[string]string{"shop:natGateways": "instance"}, "natGateways"},
		{"no NAT at all", map[string]string{"shop:natGateways": "None"}, "natGateways"},
		{"Graviton burstable", map[string]string{"shop:natInstanceType": "t4g.micro"}, ""},
		{"Graviton network-optimised", map[string]string{"shop:natInstanceType": "c7gn.medium"}, ""},
		{"Graviton2 storage", map[string]string{"shop:natInstanceType": "is4gen.medium"}, ""},
		{"x86 burstable", map[string]string{"shop:natInstanceType": "t3.nano"}, "natInstanceType"},
		{"x86 with a g family letter", map[string]string{"shop:natInstanceType": "g4dn.xlarge"}, "natInstanceType"},
		{"x86 Intel", map[string]string{"shop:natInstanceType": "m7i-flex.large"}, "natInstanceType"},
		{"not a type", map[string]string{"shop:natInstanceType": "nano"}, "natInstanceType"},
		// The type matters only when there is an instance to run it.
		{"x86 type without NAT instance", map[string]string{"shop:natGateways": "OnePerAz", "shop:natInstanceType": "t3.nano"}, ""},
		{"Container Insights enhanced", map[string]string{"shop:containerInsights": "enhanced"}, ""},
		{"Container Insights enabled", map[string]string{"shop:containerInsights": "enabled"}, ""},
		{"Container Insights capitalised", map[string]string{"shop:containerInsights": "Enabled"}, "containerInsights"},
		{"Container Insights as a boolean", map[string]string{"shop:containerInsights": "true"}, "containerInsights"},
		{"flow log aggregation 60", map[string]string{"shop:flowLogAggregationSeconds": "60"}, ""},
		{"flow log aggregation 300", map[string]string{"shop:flowLogAggregationSeconds": "300"}, "flowLogAggregationSeconds"},
		{"flow log aggregation in minutes", map[string]string{"shop:flowLogAggregationSeconds": "10m"}, "flowLogAggregationSeconds"},
		{"flow log of refused traffic", map[string]string{"shop:flowLogTrafficType": "REJECT"}, ""},
		{"flow log of accepted traffic only", map[string]string{"shop:flowLogTrafficType": "ACCEPT"}, "flowLogTrafficType"},
		{"flow log traffic in lower case", map[string]string{"shop:flowLogTrafficType": "all"}, "flowLogTrafficType"},
	}
	checkSettings(t, dev, cases)
}

// settingCase is one stack setting change on top of dev, accepted or
// refused.
type settingCase struct {
	name    string
	config  map[string]string
	wantKey string // "" when the configuration is valid
}

// checkSettings runs the program with each case: a valid one must be
// accepted, an invalid one refused with an error naming its key, before
// any resource is created.
func checkSettings(t *testing.T, dev map[string]string, cases []settingCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, err := runProgram(routing.Services, "dev", with(dev, c.config))
			if c.wantKey == "" {
				if err != nil {
					t.Fatalf("%v: got error %v, want it accepted", c.config, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantKey+": got") {
				t.Fatalf("%v: got error %v, want one naming %s", c.config, err, c.wantKey)
			}
			for _, r := range st.resources {
				if r.Custom {
					t.Errorf("got %s %q created from invalid config, want nothing", r.Type, r.Name)
				}
			}
		})
	}
}

func TestAdminToken(t *testing.T) {
	dev := stackConfig(t, "../Pulumi.dev.yaml")
	t.Run("generated when not configured", func(t *testing.T) {
		st, err := runProgram(routing.Services, "dev", dev)
		if err != nil {
			t.Fatal(err)
		}
		passwords := st.ofType("random:index/randomPassword:RandomPassword")
		versions := st.ofType("aws:secretsmanager/secretVersion:SecretVersion")
		if len(passwords) != 1 || len(versions) != 1 || versions[0].Inputs["secretString"] != passwords[0].Outputs["result"] {
			t.Errorf("got passwords %v versions %v, want the generated token stored", passwords, versions)
		}
	})
	t.Run("taken from a secret config value", func(t *testing.T) {
		cfg := with(dev, map[string]string{"shop:adminToken": "s3cret-token"})
		st, err := runProgram(routing.Services, "dev", cfg, "shop:adminToken")
		if err != nil {
			t.Fatal(err)
		}
		if got := len(st.ofType("random:index/randomPassword:RandomPassword")); got != 0 {
			t.Errorf("got %d generated passwords, want 0", got)
		}
		versions := st.ofType("aws:secretsmanager/secretVersion:SecretVersion")
		if len(versions) != 1 || versions[0].Inputs["secretString"] != "s3cret-token" {
			t.Errorf("got versions %v, want the configured token", versions)
		}
		for _, r := range st.ofType("aws:ecs/taskDefinition:TaskDefinition") {
			if strings.Contains(fmt.Sprint(r.Inputs), "s3cret-token") {
				t.Errorf("task definition %s contains the token", r.Name)
			}
		}
	})
	t.Run("refused in plain text", func(t *testing.T) {
		cfg := with(dev, map[string]string{"shop:adminToken": "s3cret-token"})
		if _, err := runProgram(routing.Services, "dev", cfg); err == nil || !strings.Contains(err.Error(), "--secret") {
			t.Errorf("got error %v, want a request to set it with --secret", err)
		}
	})
}

func TestCapacityStrategy(t *testing.T) {
	cases := []struct {
		base, weight, spot int
		want               string
	}{
		{0, 1, 0, "[{FARGATE 0 1}]"},
		{0, 1, 3, "[{FARGATE 0 1} {FARGATE_SPOT 0 3}]"},
		{2, 0, 1, "[{FARGATE 2 0} {FARGATE_SPOT 0 1}]"},
		{0, 0, 1, "[{FARGATE_SPOT 0 1}]"}, // dev: every task on Spot
	}
	for _, c := range cases {
		got := fmt.Sprint(capacityStrategy(Config{FargateBase: c.base, FargateWeight: c.weight, FargateSpotWeight: c.spot}))
		if got != c.want {
			t.Errorf("base %d weight %d spot %d: got %s, want %s", c.base, c.weight, c.spot, got, c.want)
		}
	}
}

func TestPublicPath(t *testing.T) {
	cases := []struct {
		paths []string
		want  string
	}{
		{nil, "/"},
		{[]string{"/api/catalog", "/api/catalog/*"}, "/api/catalog"},
		{[]string{"/api/orders/*"}, "/api/orders"},
		{[]string{"/*"}, "/"},
	}
	for _, c := range cases {
		if got := publicPath(routing.Service{Paths: c.paths}); got != c.want {
			t.Errorf("paths %v: got %q, want %q", c.paths, got, c.want)
		}
	}
}

// A TLS 1.3 policy name is not enough: two of them still accept TLS 1.0 and
// 1.1 (Elastic Load Balancing user guide, "Security policies for your
// Application Load Balancer").
func TestSSLPolicyRefusesOldTLS(t *testing.T) {
	dev := stackConfig(t, "../Pulumi.dev.yaml")
	cert := "arn:aws:acm:us-east-1:123456789012:certificate/dev"
	for _, tc := range []struct {
		policy string
		ok     bool
	}{
		{"ELBSecurityPolicy-TLS13-1-2-2021-06", true},
		{"ELBSecurityPolicy-TLS13-1-3-2021-06", true},
		{"ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09", true},
		{"ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04", true},
		{"ELBSecurityPolicy-TLS13-1-0-2021-06", false},
		{"ELBSecurityPolicy-TLS13-1-1-2021-06", false},
		{"ELBSecurityPolicy-TLS13-1-0-FIPS-2023-04", false},
		{"ELBSecurityPolicy-TLS13-1-1-FIPS-2023-04", false},
		{"ELBSecurityPolicy-2016-08", false},
		{"ELBSecurityPolicy-TLS13-", false},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			_, err := runProgram(routing.Services, "dev", with(dev, map[string]string{
				"shop:certificateArn": cert, "shop:sslPolicy": tc.policy,
			}))
			if got := err == nil; got != tc.ok {
				t.Fatalf("sslPolicy %s: got accepted=%v (err %v), want %v", tc.policy, got, err, tc.ok)
			}
			if !tc.ok && !strings.Contains(err.Error(), "sslPolicy") {
				t.Errorf("got error %q, want it to name sslPolicy", err)
			}
		})
	}
}

// TestUnparsableValueIsReportedOnce: a value that is not a number is one
// problem, not also a range problem about the zero it would have parsed to,
// and a check of two keys still checks the other one.
func TestUnparsableValueIsReportedOnce(t *testing.T) {
	dev := stackConfig(t, "../Pulumi.dev.yaml")
	cases := []struct {
		name        string
		set         map[string]string
		want, avoid []string
	}{
		{"both sides of checks fine", map[string]string{"shop:minTasks": "abc", "shop:cpu": "many"},
			[]string{`minTasks: got "abc", want an integer`, `cpu: got "many", want an integer`},
			[]string{"minTasks/maxTasks", "cpu/memory", "maxTasks:", "memory:"}},
		{"memory checked without cpu", map[string]string{"shop:cpu": "many", "shop:memory": "999"},
			[]string{`cpu: got "many"`, "memory: got 999, which no Fargate CPU size offers"}, []string{"cpu/memory"}},
		{"maxTasks checked without minTasks", map[string]string{"shop:minTasks": "abc", "shop:maxTasks": "0"},
			[]string{`minTasks: got "abc"`, "maxTasks: got 0, want >= 1"}, []string{"minTasks/maxTasks"}},
		{"the other weights checked", map[string]string{"shop:fargateBase": "x", "shop:fargateSpotWeight": "-1"},
			[]string{`fargateBase: got "x"`, "fargateSpotWeight: got -1, must not be negative"}, nil},
		{"storage checked without its ceiling", map[string]string{"shop:dbMaxAllocatedStorage": "x", "shop:dbAllocatedStorage": "5"},
			[]string{`dbMaxAllocatedStorage: got "x"`, "dbAllocatedStorage: got 5, want >= 20"}, []string{"dbAllocatedStorage/"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := runProgram(routing.Services, "dev", with(dev, c.set))
			if err == nil {
				t.Fatal("got no error, want the bad values reported")
			}
			for _, want := range c.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("got %q, want it to say %s", err, want)
				}
			}
			for _, noise := range c.avoid {
				if strings.Contains(err.Error(), noise) {
					t.Errorf("got %q, want nothing about %s", err, noise)
				}
			}
		})
	}
}
