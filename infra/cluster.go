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
	parent := pulumi.Parent(c)

	ns, err := servicediscovery.NewHttpNamespace(ctx, name, &servicediscovery.HttpNamespaceArgs{
		Name:        pulumi.Sprintf("%s-%s", args.Config.Project, args.Config.Stack),
		Description: pulumi.String("Service Connect names of the shop services"),
	}, parent)
	if err != nil {
		return nil, err
	}
	cluster, err := ecs.NewCluster(ctx, name, &ecs.ClusterArgs{
		// ECS.12: per-task CPU, memory and network metrics. Billed as
		// custom metrics per task and service, which dev turns off
		// (containerInsights: disabled) and so fails ECS.12.
		Settings: ecs.ClusterSettingArray{&ecs.ClusterSettingArgs{
			Name:  pulumi.String("containerInsights"),
			Value: pulumi.String(args.Config.ContainerInsights),
		}},
		ServiceConnectDefaults: &ecs.ClusterServiceConnectDefaultsArgs{Namespace: ns.Arn},
	}, parent)
	if err != nil {
		return nil, err
	}
	providers, err := ecs.NewClusterCapacityProviders(ctx, name, &ecs.ClusterCapacityProvidersArgs{
		ClusterName:                       cluster.Name,
		CapacityProviders:                 pulumi.ToStringArray([]string{"FARGATE", "FARGATE_SPOT"}),
		DefaultCapacityProviderStrategies: clusterStrategy(args.Config),
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
// minimum capacity away; a provider with weight 0 is left out. Dev puts every
// task on Spot (base 0, weight 0, Spot weight 1), arm64 included: Spot takes
// ARM64 Linux tasks from platform version 1.4.0 on (ECS API reference,
// CapacityProviderStrategyItem,
// https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_CapacityProviderStrategyItem.html),
// and the services leave the platform version at LATEST, which is 1.4.0 for
// Linux.
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

// strategy renders the shares as one resource type's strategy entries.
func strategy[T any](cfg Config, entry func(provider pulumi.StringInput, base, weight pulumi.IntInput) T) []T {
	var out []T
	for _, s := range capacityStrategy(cfg) {
		out = append(out, entry(pulumi.String(s.Provider), pulumi.Int(s.Base), pulumi.Int(s.Weight)))
	}
	return out
}

func clusterStrategy(cfg Config) ecs.ClusterCapacityProvidersDefaultCapacityProviderStrategyArray {
	return strategy(cfg, func(p pulumi.StringInput, b, w pulumi.IntInput) ecs.ClusterCapacityProvidersDefaultCapacityProviderStrategyInput {
		return &ecs.ClusterCapacityProvidersDefaultCapacityProviderStrategyArgs{CapacityProvider: p, Base: b, Weight: w}
	})
}

func serviceStrategy(cfg Config) ecs.ServiceCapacityProviderStrategyArray {
	return strategy(cfg, func(p pulumi.StringInput, b, w pulumi.IntInput) ecs.ServiceCapacityProviderStrategyInput {
		return &ecs.ServiceCapacityProviderStrategyArgs{CapacityProvider: p, Base: b, Weight: w}
	})
}
