package main

import (
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecs"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/servicediscovery"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Cluster is the ECS cluster, its Fargate capacity providers and the Cloud Map
// namespace Service Connect uses to give each service its short DNS name.
type Cluster struct {
	pulumi.ResourceState

	Name         pulumi.StringOutput
	Arn          pulumi.StringOutput
	NamespaceArn pulumi.StringOutput
	// CapacityProviders must exist before a service names them.
	CapacityProviders pulumi.Resource
}

type clusterArgs struct {
	Config Config
}

func newCluster(ctx *pulumi.Context, name string, args clusterArgs, opts ...pulumi.ResourceOption) (*Cluster, error) {
	c := &Cluster{}
	if err := ctx.RegisterComponentResource("shop:cluster:Cluster", name, c, opts...); err != nil {
		return nil, err
	}
	cfg := args.Config
	parent := pulumi.Parent(c)

	ns, err := servicediscovery.NewHttpNamespace(ctx, name, &servicediscovery.HttpNamespaceArgs{
		Name:        pulumi.Sprintf("%s-%s", cfg.Project, cfg.Stack),
		Description: pulumi.String("Service Connect names of the shop services"),
	}, parent)
	if err != nil {
		return nil, err
	}
	cluster, err := ecs.NewCluster(ctx, name, &ecs.ClusterArgs{
		// ECS.12: per-task CPU, memory and network metrics.
		Settings: ecs.ClusterSettingArray{&ecs.ClusterSettingArgs{
			Name:  pulumi.String("containerInsights"),
			Value: pulumi.String("enabled"),
		}},
		ServiceConnectDefaults: &ecs.ClusterServiceConnectDefaultsArgs{Namespace: ns.Arn},
	}, parent)
	if err != nil {
		return nil, err
	}
	providers, err := ecs.NewClusterCapacityProviders(ctx, name, &ecs.ClusterCapacityProvidersArgs{
		ClusterName:                       cluster.Name,
		CapacityProviders:                 pulumi.ToStringArray([]string{"FARGATE", "FARGATE_SPOT"}),
		DefaultCapacityProviderStrategies: clusterStrategy(cfg),
	}, parent)
	if err != nil {
		return nil, err
	}

	c.Name = cluster.Name
	c.Arn = cluster.Arn
	c.NamespaceArn = ns.Arn
	c.CapacityProviders = providers
	return c, ctx.RegisterResourceOutputs(c, pulumi.Map{
		"name":         c.Name,
		"namespaceArn": c.NamespaceArn,
	})
}

// capacityShare is one entry of a capacity provider strategy.
type capacityShare struct {
	Provider     string
	Base, Weight int
}

// capacityStrategy splits tasks between on-demand and Spot Fargate. The base
// always runs on on-demand FARGATE so Spot interruptions never take the
// minimum capacity away; a provider with weight 0 is left out.
func capacityStrategy(cfg Config) []capacityShare {
	var out []capacityShare
	if cfg.FargateWeight > 0 || cfg.FargateBase > 0 {
		out = append(out, capacityShare{Provider: "FARGATE", Base: cfg.FargateBase, Weight: cfg.FargateWeight})
	}
	if cfg.FargateSpotWeight > 0 {
		out = append(out, capacityShare{Provider: "FARGATE_SPOT", Weight: cfg.FargateSpotWeight})
	}
	return out
}

func clusterStrategy(cfg Config) ecs.ClusterCapacityProvidersDefaultCapacityProviderStrategyArray {
	var out ecs.ClusterCapacityProvidersDefaultCapacityProviderStrategyArray
	for _, s := range capacityStrategy(cfg) {
		out = append(out, &ecs.ClusterCapacityProvidersDefaultCapacityProviderStrategyArgs{
			CapacityProvider: pulumi.String(s.Provider),
			Base:             pulumi.Int(s.Base),
			Weight:           pulumi.Int(s.Weight),
		})
	}
	return out
}

func serviceStrategy(cfg Config) ecs.ServiceCapacityProviderStrategyArray {
	var out ecs.ServiceCapacityProviderStrategyArray
	for _, s := range capacityStrategy(cfg) {
		out = append(out, &ecs.ServiceCapacityProviderStrategyArgs{
			CapacityProvider: pulumi.String(s.Provider),
			Base:             pulumi.Int(s.Base),
			Weight:           pulumi.Int(s.Weight),
		})
	}
	return out
}
