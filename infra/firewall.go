package main

import (
	"fmt"

	"github.com/fargateshop/shop/platform/routing"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/vpc"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Firewall gives every service its own security group and opens exactly the
// paths the declaration implies:
//
//	ALB           -> service   on the service port (every service is routed)
//	dependent     -> service   on the service port (Service Connect peers)
//	service       -> database  on 5432, for services that own a schema
//	service       -> internet  on 443, for ECR, Secrets Manager and Logs via NAT
//
// Anything else is denied: a call between services that the declaration does
// not list as a dependency is refused in the cloud.
type Firewall struct {
	pulumi.ResourceState

	// SecurityGroupIDs maps a service name to its tasks' security group.
	SecurityGroupIDs map[string]pulumi.IDOutput
}

type firewallArgs struct {
	Services       []routing.Service
	VpcID          pulumi.StringOutput
	LoadBalancerSG pulumi.IDOutput
	DatabaseSG     pulumi.IDOutput
	DatabasePort   int
}

func newFirewall(ctx *pulumi.Context, name string, args firewallArgs, opts ...pulumi.ResourceOption) (*Firewall, error) {
	f := &Firewall{SecurityGroupIDs: map[string]pulumi.IDOutput{}}
	if err := ctx.RegisterComponentResource("shop:network:Firewall", name, f, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(f)

	for _, svc := range args.Services {
		sg, err := ec2.NewSecurityGroup(ctx, svc.Name, &ec2.SecurityGroupArgs{
			VpcId:       args.VpcID,
			Description: pulumi.Sprintf("Tasks of %s: in from the ALB and declared dependents only", svc.Name),
			Tags:        serviceTags(svc.Name),
		}, parent)
		if err != nil {
			return nil, err
		}
		f.SecurityGroupIDs[svc.Name] = sg.ID()
	}

	// link opens from -> to on port: an egress rule on the source group and
	// the matching ingress rule on the destination group.
	link := func(label, owner string, from, to pulumi.IDOutput, port int) error {
		tags := serviceTags(owner)
		if _, err := vpc.NewSecurityGroupEgressRule(ctx, label+"-out", &vpc.SecurityGroupEgressRuleArgs{
			SecurityGroupId:           from,
			ReferencedSecurityGroupId: to,
			IpProtocol:                pulumi.String("tcp"),
			FromPort:                  pulumi.Int(port),
			ToPort:                    pulumi.Int(port),
			Description:               pulumi.String(label),
			Tags:                      tags,
		}, parent); err != nil {
			return err
		}
		_, err := vpc.NewSecurityGroupIngressRule(ctx, label+"-in", &vpc.SecurityGroupIngressRuleArgs{
			SecurityGroupId:           to,
			ReferencedSecurityGroupId: from,
			IpProtocol:                pulumi.String("tcp"),
			FromPort:                  pulumi.Int(port),
			ToPort:                    pulumi.Int(port),
			Description:               pulumi.String(label),
			Tags:                      tags,
		}, parent)
		return err
	}

	for _, svc := range args.Services {
		sg := f.SecurityGroupIDs[svc.Name]
		if err := link(fmt.Sprintf("alb-to-%s", svc.Name), svc.Name, args.LoadBalancerSG, sg, svc.Port); err != nil {
			return nil, err
		}
		for _, dep := range svc.Dependencies {
			target, _ := routing.Lookup(args.Services, dep) // Validate guarantees it exists
			if err := link(fmt.Sprintf("%s-to-%s", svc.Name, dep), svc.Name, sg, f.SecurityGroupIDs[dep], target.Port); err != nil {
				return nil, err
			}
		}
		if svc.Database {
			if err := link(fmt.Sprintf("%s-to-database", svc.Name), svc.Name, sg, args.DatabaseSG, args.DatabasePort); err != nil {
				return nil, err
			}
		}
		// Tasks have no VPC endpoints: image pulls, secrets and logs leave
		// through the NAT gateway over TLS.
		if _, err := vpc.NewSecurityGroupEgressRule(ctx, svc.Name+"-to-aws-apis", &vpc.SecurityGroupEgressRuleArgs{
			SecurityGroupId: sg,
			CidrIpv4:        pulumi.String("0.0.0.0/0"),
			IpProtocol:      pulumi.String("tcp"),
			FromPort:        pulumi.Int(443),
			ToPort:          pulumi.Int(443),
			Description:     pulumi.String("HTTPS to AWS APIs through NAT"),
			Tags:            serviceTags(svc.Name),
		}, parent); err != nil {
			return nil, err
		}
	}

	outputs := pulumi.Map{}
	for name, id := range f.SecurityGroupIDs {
		outputs[name] = id
	}
	return f, ctx.RegisterResourceOutputs(f, outputs)
}
