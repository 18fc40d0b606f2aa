package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/fargateshop/shop/platform/routing"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// componentTypes are the program's own components, one per concern.
var componentTypes = map[string]bool{
	"shop:network:Network":           true,
	"shop:database:Database":         true,
	"shop:loadbalancer:LoadBalancer": true,
	"shop:cluster:Cluster":           true,
	"shop:network:Firewall":          true,
	"shop:secrets:AdminToken":        true,
	"shop:service:Service":           true,
	"shop:telemetry:Telemetry":       true,
	"shop:dashboard:Dashboard":       true,
	"shop:messaging:Messaging":       true,
}

// TestEveryResourceHasItsComponent proves the tree reads like the
// architecture: components hang off the stack, everything else off a
// component.
func TestEveryResourceHasItsComponent(t *testing.T) {
	forEach(t, func(t *testing.T, sc scenario, st *stack) {
		for _, r := range st.resources {
			parentType := string(resource.URN(r.Parent).Type())
			switch {
			case r.Type == "pulumi:providers:aws":
				if parentType != "pulumi:pulumi:Stack" {
					t.Errorf("provider: got parent %s, want the stack", parentType)
				}
			case componentTypes[r.Type]:
				if parentType != "pulumi:pulumi:Stack" {
					t.Errorf("%s %s: got parent %s, want the stack", r.Type, r.Name, parentType)
				}
			default:
				if !componentTypes[parentType] {
					t.Errorf("%s %s: got parent %q, want one of the shop components", r.Type, r.Name, r.Parent)
				}
			}
		}
		// Each service's resources sit under that service's component.
		for _, s := range routing.Services {
			for _, typ := range []string{"aws:ecs/service:Service", "aws:ecs/taskDefinition:TaskDefinition", "aws:ecr/repository:Repository", "awsx:ecr:Image"} {
				r := st.one(t, typ, s.Name)
				if got := resource.URN(r.Parent).Name(); got != s.Name {
					t.Errorf("%s %s: got parent %s, want the %s component", typ, s.Name, got, s.Name)
				}
			}
		}
	})
}

// TestOneProviderTagsEverything proves every AWS resource and invoke goes
// through the explicit provider, whose default tags carry project, stack and
// service, and that per-service resources override the service tag.
func TestOneProviderTagsEverything(t *testing.T) {
	forEach(t, func(t *testing.T, sc scenario, st *stack) {
		providers := st.ofType("pulumi:providers:aws")
		if len(providers) != 1 {
			t.Fatalf("got %d aws providers, want 1", len(providers))
		}
		p := providers[0]
		wantTags := map[string]any{"project": "shop", "stack": sc.stack, "service": "shared", "managed-by": "pulumi"}
		if got := asMap(dig(p.Inputs, "defaultTags", "tags")); fmt.Sprint(got) != fmt.Sprint(wantTags) {
			t.Errorf("got default tags %v, want %v", got, wantTags)
		}
		if got := p.Inputs["region"]; got != sc.config["aws:region"] {
			t.Errorf("got region %v, want %v", got, sc.config["aws:region"])
		}
		ref := "::" + p.Name + "::" + p.Name + "-id"
		for _, r := range st.resources {
			switch {
			case r.Custom && strings.HasPrefix(r.Type, "aws:"):
				if !strings.HasSuffix(r.Provider, ref) {
					t.Errorf("%s %s: got provider %q, want the explicit aws provider", r.Type, r.Name, r.Provider)
				}
			case strings.HasPrefix(r.Type, "awsx:"):
				// Multi-language components only see providers passed to them.
				if !strings.HasSuffix(r.Providers["aws"], ref) {
					t.Errorf("%s %s: got providers %v, want the explicit aws provider", r.Type, r.Name, r.Providers)
				}
			}
		}
		for _, c := range st.calls {
			if strings.HasPrefix(c.Token, "aws:") && !strings.HasSuffix(c.Provider, ref) {
				t.Errorf("invoke %s: got provider %q, want the explicit aws provider", c.Token, c.Provider)
			}
		}
		// Resources that belong to one service say so.
		perService := []string{
			"aws:ecs/service:Service", "aws:ecs/taskDefinition:TaskDefinition", "aws:ecr/repository:Repository",
			"aws:cloudwatch/logGroup:LogGroup", "aws:lb/targetGroup:TargetGroup", "aws:iam/role:Role",
			"aws:appautoscaling/target:Target", "aws:ec2/securityGroup:SecurityGroup",
		}
		for _, typ := range perService {
			for _, s := range routing.Services {
				for _, r := range st.ofType(typ) {
					if r.Name == s.Name || strings.HasPrefix(r.Name, s.Name+"-") {
						if got := dig(r.Inputs, "tags", "service"); got != s.Name {
							t.Errorf("%s %s: got service tag %v, want %s", typ, r.Name, got, s.Name)
						}
					}
				}
			}
		}
	})
}

// stackOutputs runs deploy under mocks and resolves the outputs the program
// exports.
func stackOutputs(t *testing.T, sc scenario) map[string]any {
	t.Helper()
	var got map[string]any
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		outputs, err := deploy(ctx, routing.Services)
		if err != nil {
			return err
		}
		outputs.ToMapOutput().ApplyT(func(v map[string]any) error {
			got = v
			return nil
		})
		return nil
	}, pulumi.WithMocks("shop", sc.stack, &mocks{}), func(info *pulumi.RunInfo) { info.Config = sc.config })
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestResourceCounts keeps each configuration's size from changing
// unnoticed: a resource added or lost fails it. The counts are written out
// (custom resources including the provider, and components including awsx's);
// when a change is meant, update them here with the reason in the commit.
func TestResourceCounts(t *testing.T) {
	// Dev's NAT instance is nine resources the NAT gateway stacks do not
	// have (natinstance.go): its security group and two rules, role, policy
	// attachment, instance profile, the instance and a route per zone.
	// Autoscaling is twelve more (a target and two policies per service),
	// which dev, with maxTasks = minTasks, does without; dev's active hours
	// are twelve of their own (a target and two scheduled actions per
	// service), and eight where the targets exist already (onDemand). Each
	// service has a p99 latency alarm beside its 5xx alarm. Telemetry is two
	// more and a component (the EMF log group, and a task role policy for
	// web, which had none); the dashboard one and a component. Orders
	// publishes order-events: the messaging component with the topic and
	// its policy. Shipping consumes it: besides what every service has, its
	// queue and dead-letter queue, their two policies, the redrive allow
	// policy, the subscription and the dead-letter alarm (production adds
	// the age alarm).
	want := map[string]struct{ custom, components int }{
		"dev":                      {138, 16},
		"dev+natPerAz":             {129, 16},
		"dev+natSingle+x86":        {129, 16},
		"dev+https":                {140, 16},
		"dev+onDemand+autoscaling": {146, 16},
		"dev+exec":                 {139, 16},
		"dev+insights":             {138, 16},
		"dev+allFlows":             {138, 16},
		"dev+telemetry+dashboard":  {141, 18},
		"dev+alwaysOn":             {126, 16},
		"prod":                     {135, 18},
	}
	shop := shopServices(t)
	forEach(t, func(t *testing.T, sc scenario, _ *stack) {
		st, err := runProgram(shop, sc.stack, sc.config)
		if err != nil {
			t.Fatal(err)
		}
		custom, components := 0, 0
		for _, r := range st.resources {
			if r.Custom {
				custom++
			} else {
				components++
			}
		}
		w, ok := want[sc.name]
		if !ok {
			t.Fatalf("no expected count for scenario %s", sc.name)
		}
		if custom != w.custom || components != w.components {
			t.Errorf("got %d custom resources and %d components, want %d and %d", custom, components, w.custom, w.components)
		}
	})
}
