package main

import (
	"fmt"
	"math/bits"
	"net/netip"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	awsxec2 "github.com/pulumi/pulumi-awsx/sdk/v2/go/awsx/ec2"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Network is the VPC: public subnets hold only the load balancer and the NAT
// gateways or NAT instance, private subnets hold the tasks and the database.
type Network struct {
	pulumi.ResourceState

	VpcID             pulumi.StringOutput
	PublicSubnetIDs   pulumi.StringArrayOutput
	PrivateSubnetIDs  pulumi.StringArrayOutput
	AvailabilityZones []string
	// Egress is what must exist before anything in a private subnet can
	// reach the internet (image pulls, secrets, logs): the VPC, whose NAT
	// gateways and routes awsx creates, and with natGateways Instance the
	// NAT instance and the routes to it, which the program creates itself.
	Egress []pulumi.Resource
}

type networkArgs struct {
	Config    Config
	AccountID string
	// Provider is handed to the awsx VPC explicitly: the Go SDK does not pass
	// a parent's providers on to multi-language components.
	Provider *aws.Provider
}

func newNetwork(ctx *pulumi.Context, name string, args networkArgs, opts ...pulumi.ResourceOption) (*Network, error) {
	n := &Network{}
	if err := ctx.RegisterComponentResource("shop:network:Network", name, n, opts...); err != nil {
		return nil, err
	}
	cfg := args.Config
	parent := pulumi.Parent(n)

	// Name the zones explicitly so the stack keeps its zones when AWS adds new
	// ones, and so the ALB provably spans at least two of them (ELB.13).
	zones, err := aws.GetAvailabilityZones(ctx, &aws.GetAvailabilityZonesArgs{
		State: pulumi.StringRef("available"),
	}, parent)
	if err != nil {
		return nil, err
	}
	if len(zones.Names) < cfg.AvailabilityZones {
		return nil, fmt.Errorf("network: region %s has %d available zones, availabilityZones asks for %d",
			cfg.Region, len(zones.Names), cfg.AvailabilityZones)
	}
	n.AvailabilityZones = zones.Names[:cfg.AvailabilityZones]

	// Each zone gets an equal, power-of-two slice of the VPC; within it the
	// private subnet takes half and the public one an eighth, because only the
	// ALB and NAT gateways live there.
	prefix := netip.MustParsePrefix(cfg.VpcCidr) // validated in loadConfig
	zoneMask := prefix.Bits() + bits.Len(uint(cfg.AvailabilityZones-1))
	strategy := awsxec2.SubnetAllocationStrategyAuto
	vpc, err := awsxec2.NewVpc(ctx, name, &awsxec2.VpcArgs{
		CidrBlock:                &cfg.VpcCidr,
		AvailabilityZoneNames:    n.AvailabilityZones,
		AvailabilityZoneCidrMask: &zoneMask,
		SubnetStrategy:           &strategy,
		SubnetSpecs: []awsxec2.SubnetSpecArgs{
			{Type: awsxec2.SubnetTypePrivate, CidrMask: pulumi.IntRef(zoneMask + 1)},
			{Type: awsxec2.SubnetTypePublic, CidrMask: pulumi.IntRef(zoneMask + 3)},
		},
		// OnePerAz keeps private subnets online when a zone fails; Single
		// costs a third as much with three zones; Instance replaces the
		// gateways with one NAT instance (natinstance.go), cheaper still.
		NatGateways: &awsxec2.NatGatewayConfigurationArgs{
			Strategy: natStrategy(cfg.NatGateways),
		},
		EnableDnsHostnames: pulumi.Bool(true),
		EnableDnsSupport:   pulumi.Bool(true),
	}, parent, pulumi.Providers(args.Provider),
		pulumi.Transforms([]pulumi.ResourceTransform{noPublicIPOnLaunch}))
	if err != nil {
		return nil, err
	}
	n.VpcID = vpc.VpcId
	n.PublicSubnetIDs = vpc.PublicSubnetIds
	n.PrivateSubnetIDs = vpc.PrivateSubnetIds
	n.Egress = []pulumi.Resource{vpc}
	if cfg.NatGateways == natInstance {
		nat, err := newNatInstance(ctx, name, natInstanceArgs{
			Config: cfg, Vpc: vpc, VpcID: vpc.VpcId,
			PublicSubnetIDs: vpc.PublicSubnetIds, PrivateSubnetIDs: vpc.PrivateSubnetIds,
		}, parent)
		if err != nil {
			return nil, err
		}
		n.Egress = append(n.Egress, nat...)
	}

	// EC2.2: adopt the default security group and strip every rule, so a
	// resource launched without a group gets no network access.
	if _, err := ec2.NewDefaultSecurityGroup(ctx, name+"-default", &ec2.DefaultSecurityGroupArgs{
		VpcId: vpc.VpcId,
	}, parent); err != nil {
		return nil, err
	}

	if err := n.flowLogs(ctx, name, cfg, args.AccountID, vpc.VpcId, parent); err != nil {
		return nil, err
	}

	return n, ctx.RegisterResourceOutputs(n, pulumi.Map{
		"vpcId":            n.VpcID,
		"publicSubnetIds":  n.PublicSubnetIDs,
		"privateSubnetIds": n.PrivateSubnetIDs,
	})
}

// natStrategy is the awsx NAT gateway strategy for a natGateways value: with
// a NAT instance awsx creates no gateway, and with strategy None it gives
// each private subnet a route table with no default route
// (awsx/ec2/vpc.ts, v2.21.0), which natinstance.go adds.
func natStrategy(natGateways string) awsxec2.NatGatewayStrategy {
	if natGateways == natInstance {
		return awsxec2.NatGatewayStrategyNone
	}
	return awsxec2.NatGatewayStrategy(natGateways)
}

// flowLogs sends the flows flowLogTrafficType names (ALL, or only the
// refused ones) to CloudWatch (EC2.6) through a role that can write only to
// that one log group.
func (n *Network) flowLogs(ctx *pulumi.Context, name string, cfg Config, accountID string,
	vpcID pulumi.StringOutput, parent pulumi.ResourceOrInvokeOption,
) error {
	group, err := cloudwatch.NewLogGroup(ctx, name+"-flow-logs", &cloudwatch.LogGroupArgs{
		Name:            pulumi.Sprintf("/%s/%s/vpc-flow-logs", cfg.Project, cfg.Stack),
		RetentionInDays: pulumi.Int(cfg.LogRetentionDays),
	}, parent)
	if err != nil {
		return err
	}
	role, err := iam.NewRole(ctx, name+"-flow-logs", &iam.RoleArgs{
		Description:      pulumi.String("VPC flow logs delivery to CloudWatch Logs"),
		AssumeRolePolicy: assumeRolePolicy("vpc-flow-logs.amazonaws.com", accountID),
	}, parent)
	if err != nil {
		return err
	}
	if _, err := iam.NewRolePolicy(ctx, name+"-flow-logs", &iam.RolePolicyArgs{
		Role: role.Name,
		Policy: policyDocument(
			statement{
				Sid:       "WriteFlowLogs",
				Actions:   []string{"logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"},
				Resources: pulumi.StringArray{group.Arn, pulumi.Sprintf("%s:*", group.Arn)},
			},
			statement{
				// DescribeLogGroups is a list call that cannot be scoped to one
				// group; it is read-only and names a single action.
				Sid:       "FindLogGroup",
				Actions:   []string{"logs:DescribeLogGroups"},
				Resources: pulumi.StringArray{pulumi.String("*")},
			},
		),
	}, parent); err != nil {
		return err
	}
	_, err = ec2.NewFlowLog(ctx, name, &ec2.FlowLogArgs{
		VpcId:              vpcID,
		TrafficType:        pulumi.String(cfg.FlowLogTrafficType),
		LogDestinationType: pulumi.String("cloud-watch-logs"),
		LogDestination:     group.Arn,
		IamRoleArn:         role.Arn,
		// 600 s writes up to a tenth of the records for a long flow, and
		// flow logs are billed by the volume ingested; 60 s shows a flow
		// sooner and finer.
		MaxAggregationInterval: pulumi.Int(cfg.FlowLogAggregationSeconds),
	}, parent)
	return err
}
