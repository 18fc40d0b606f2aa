// Command infra is the Pulumi program that runs the shop on AWS: every app
// declared in platform/routing becomes a Fargate service behind one ALB.
package main

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/fargateshop/shop/platform/routing"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

func main() {
	// `make plan`: the Pulumi CLI runs the program without arguments.
	if len(os.Args) > 1 && os.Args[1] == "plan" {
		os.Exit(runPlan(os.Args[2:], os.Stdout, os.Stderr))
	}
	pulumi.Run(program(routing.Services))
}

// program is the whole stack for a declaration. Tests pass their own
// declarations, including broken ones.
func program(services []routing.Service) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		outputs, err := deploy(ctx, services)
		if err != nil {
			return err
		}
		for name, value := range outputs {
			ctx.Export(name, value)
		}
		return nil
	}
}

// deploy reads like the architecture: network, database, load balancer,
// cluster, the firewall between them, then one service per declared app.
func deploy(ctx *pulumi.Context, services []routing.Service) (pulumi.Map, error) {
	// A declaration the ALB cannot implement is rejected before anything
	// is created.
	if err := routing.Validate(services); err != nil {
		return nil, fmt.Errorf("routing declaration: %w", err)
	}
	cfg, err := loadConfig(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkMessagingNames(cfg, services); err != nil {
		return nil, err
	}
	source, err := findBuildSource()
	if err != nil {
		return nil, err
	}

	provider, err := newAWSProvider(ctx, cfg)
	if err != nil {
		return nil, err
	}
	// Every component, and through it every resource, uses this provider.
	useProvider := pulumi.Providers(provider)
	caller, err := aws.GetCallerIdentity(ctx, &aws.GetCallerIdentityArgs{}, pulumi.Provider(provider))
	if err != nil {
		return nil, err
	}

	network, err := newNetwork(ctx, "network", networkArgs{
		Config: cfg, AccountID: caller.AccountId, Provider: provider,
	}, useProvider)
	if err != nil {
		return nil, err
	}

	database, err := newDatabase(ctx, "database", databaseArgs{
		Config: cfg, VpcID: network.VpcID, PrivateSubnetIDs: network.PrivateSubnetIDs,
	}, useProvider)
	if err != nil {
		return nil, err
	}

	loadBalancer, err := newLoadBalancer(ctx, "loadbalancer", loadBalancerArgs{
		Config: cfg, Services: services, AccountID: caller.AccountId,
		VpcID: network.VpcID, PublicSubnetIDs: network.PublicSubnetIDs,
	}, useProvider)
	if err != nil {
		return nil, err
	}

	cluster, err := newCluster(ctx, "cluster", clusterArgs{Config: cfg}, useProvider)
	if err != nil {
		return nil, err
	}

	firewall, err := newFirewall(ctx, "firewall", firewallArgs{
		Services: services, VpcID: network.VpcID,
		LoadBalancerSG: loadBalancer.SecurityGroupID,
		DatabaseSG:     database.SecurityGroupID, DatabasePort: postgresPort,
	}, useProvider)
	if err != nil {
		return nil, err
	}

	var adminToken *AdminToken
	if readers := adminReaders(services); len(readers) > 0 {
		adminToken, err = newAdminToken(ctx, "admin-token", adminTokenArgs{Config: cfg, Readers: readers}, useProvider)
		if err != nil {
			return nil, err
		}
	}

	// Where the collectors beside the apps send traces and metrics.
	var telemetry *Telemetry
	if cfg.Telemetered() {
		telemetry, err = newTelemetry(ctx, "telemetry", cfg, useProvider)
		if err != nil {
			return nil, err
		}
	}

	// The topics and queues the declaration asks for; each service gets
	// the ones it publishes to and reads.
	messaging, err := newMessaging(ctx, "messaging", messagingArgs{Config: cfg, Services: services}, useProvider)
	if err != nil {
		return nil, err
	}

	// Services are created after the services they call (see StartOrder).
	ordered, err := routing.StartOrder(services)
	if err != nil {
		return nil, err
	}
	created := map[string]*Service{}
	serviceURLs := pulumi.StringMap{}
	repositoryURLs := pulumi.StringMap{}
	serviceNames := pulumi.StringMap{}
	logGroups := pulumi.StringMap{}
	taskDefinitions := pulumi.StringMap{}
	targetGroups := pulumi.StringMap{}
	taskRoles := map[string]pulumi.StringOutput{}
	for _, spec := range ordered {
		args := serviceArgs{
			Config: cfg, Spec: spec, Services: services, Source: source,
			Provider: provider, AccountID: caller.AccountId,
			Cluster:          cluster,
			PrivateSubnetIDs: network.PrivateSubnetIDs,
			Egress:           network.Egress,
			SecurityGroupID:  firewall.SecurityGroupIDs[spec.Name],
			TargetGroup:      loadBalancer.TargetGroups[spec.Name],
			LoadBalancer:     loadBalancer,
			Telemetry:        telemetry,
			Messaging:        messaging,
		}
		if spec.Database {
			args.Database = database
		}
		if adminTokenReaders[spec.Name] {
			args.AdminToken = adminToken
		}
		for _, dep := range spec.Dependencies {
			args.Calls = append(args.Calls, created[dep])
		}
		svc, err := newService(ctx, args, useProvider)
		if err != nil {
			return nil, err
		}
		serviceURLs[spec.Name] = pulumi.Sprintf("%s%s", loadBalancer.URL, publicPath(spec))
		repositoryURLs[spec.Name] = svc.RepositoryURL
		serviceNames[spec.Name] = svc.Name
		logGroups[spec.Name] = svc.LogGroupName
		taskDefinitions[spec.Name] = svc.TaskDefinitionArn
		targetGroups[spec.Name] = loadBalancer.TargetGroups[spec.Name].Arn
		taskRoles[spec.Name] = svc.TaskRoleArn
		created[spec.Name] = svc
	}
	// A topic's policy names its publisher's task role, which exists only
	// now.
	if err := messaging.allowPublishers(ctx, taskRoles); err != nil {
		return nil, err
	}

	if cfg.Dashboard {
		var panels []dashboardService
		for _, spec := range services {
			panels = append(panels, dashboardService{
				Name: spec.Name, Service: created[spec.Name].Name,
				TargetGroup: loadBalancer.TargetGroups[spec.Name].ArnSuffix,
			})
		}
		if _, err := newDashboard(ctx, "dashboard", dashboardArgs{
			Config: cfg, LoadBalancer: loadBalancer.ArnSuffix, Cluster: cluster.Name,
			Services: panels, Telemetry: telemetry,
		}, useProvider); err != nil {
			return nil, err
		}
	}

	return pulumi.Map{
		"url":            loadBalancer.URL,
		"serviceUrls":    serviceURLs,
		"repositoryUrls": repositoryURLs,
		"clusterName":    cluster.Name,
		"serviceNames":   serviceNames,
		"logGroupNames":  logGroups,
		// What `make deploy` checks after `pulumi up` (infra/deploycheck).
		"region":             pulumi.String(cfg.Region),
		"taskDefinitionArns": taskDefinitions,
		"targetGroupArns":    targetGroups,
		"databaseEndpoint":   pulumi.Sprintf("%s:%d", database.Address, database.Port),
	}, nil
}

// publicPath is where a service answers on the load balancer: its first path
// pattern without the wildcard, or / for the default service.
func publicPath(s routing.Service) string {
	if len(s.Paths) == 0 {
		return "/"
	}
	if p := strings.TrimSuffix(strings.TrimSuffix(s.Paths[0], "*"), "/"); p != "" {
		return p
	}
	return "/"
}

// adminReaders lists the declared services that read ADMIN_TOKEN.
func adminReaders(services []routing.Service) []string {
	var out []string
	for _, s := range services {
		if adminTokenReaders[s.Name] {
			out = append(out, s.Name)
		}
	}
	slices.Sort(out)
	return out
}
