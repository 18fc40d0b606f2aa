package main

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ssm"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/vpc"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// natInstanceAMIParameter is the public SSM parameter that always names the
// latest Amazon Linux 2023 AMI for arm64, the architecture of every type
// natInstanceType accepts.
const natInstanceAMIParameter = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"

// ssmManagedInstanceCore is the AWS managed policy that lets the SSM agent
// register the instance with Systems Manager (FSBP SSM.1): Session Manager
// and Patch Manager then reach it without SSH, a key pair or an open port.
const ssmManagedInstanceCore = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"

// natInstanceRootGiB is the root volume's size: what Amazon Linux 2023
// launches with by default, which a NAT never fills. Not checked against the
// AMI here; EC2 refuses a size below the AMI's snapshot at launch, so a
// first deploy would show it.
const natInstanceRootGiB = 8

// natUserData turns a fresh Amazon Linux 2023 instance into a NAT: IP
// forwarding on, and every packet forwarded out of the interface that holds
// the default route masqueraded as the instance's own address; both survive a
// reboot (sysctl.d, iptables-services). "NAT instances" in the Amazon VPC user
// guide (https://docs.aws.amazon.com/vpc/latest/userguide/VPC_NAT_Instance.html)
// has you build your own NAT AMI from current Amazon Linux ("Create a NAT
// AMI"): install iptables-services, set net.ipv4.ip_forward in sysctl.d,
// MASQUERADE on the primary interface, flush FORWARD, save the rules. The
// same steps run here at first boot instead of in an AMI, so the instance
// always starts from the AMI AWS currently publishes. The interface is looked
// up rather than named (ens5 on Nitro types today). The install is retried:
// the public subnet's route to the internet gateway may still be settling
// when the instance first boots. A 512 MiB swap file comes first: dnf on a
// .nano type with the SSM agent starting has been killed for memory
// (amazon-linux-2023 issue 404).
const natUserData = `#!/bin/bash
set -euo pipefail
# 512 MiB (t4g.nano) is tight for dnf while the SSM agent starts; a swap file
# keeps the install from being killed for memory.
if [ ! -f /swapfile ]; then
  dd if=/dev/zero of=/swapfile bs=1M count=512 status=none
  chmod 600 /swapfile
  mkswap /swapfile
  echo '/swapfile none swap defaults 0 0' >> /etc/fstab
fi
swapon -a
for attempt in $(seq 1 30); do
  dnf install -y iptables-services && break
  if [ "$attempt" = 30 ]; then echo "nat: iptables-services did not install" >&2; exit 1; fi
  sleep 10
done
systemctl enable --now iptables
echo 'net.ipv4.ip_forward=1' > /etc/sysctl.d/90-nat.conf
sysctl -p /etc/sysctl.d/90-nat.conf
iface=$(ip -o route show default | awk '{for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit }}')
if [ -z "$iface" ]; then echo "nat: no default route" >&2; exit 1; fi
iptables -t nat -A POSTROUTING -o "$iface" -j MASQUERADE
# The packaged rules reject forwarded packets; the security group is the filter.
iptables -F FORWARD
# What "service iptables save" does, without needing the service wrapper:
# iptables-services loads this file at boot.
iptables-save > /etc/sysconfig/iptables
`

// natInstanceArgs is what the NAT instance needs from the network.
type natInstanceArgs struct {
	Config           Config
	Vpc              pulumi.Resource
	VpcID            pulumi.StringOutput
	PublicSubnetIDs  pulumi.StringArrayOutput
	PrivateSubnetIDs pulumi.StringArrayOutput
}

// newNatInstance runs one EC2 instance as the NAT of every private subnet,
// in place of NAT gateways, and returns what must exist before anything in a
// private subnet can reach the internet: the instance and the routes to it.
//
// When AWS publishes a new Amazon Linux 2023 AMI the parameter names it, the
// instance's ami changes and the next `pulumi up` replaces the instance. That
// is kept on purpose instead of ignoring the change: the NAT holds no state
// (user data rebuilds it), replacement creates the new instance and moves
// the routes to it before deleting the old one, so egress stops only for the
// connections open at the switch, and dev's only instance stays patched
// without anyone running Patch Manager. The price is an occasional
// replacement in a preview that changed nothing else.
func newNatInstance(ctx *pulumi.Context, name string, args natInstanceArgs, parent pulumi.ResourceOrInvokeOption) ([]pulumi.Resource, error) {
	cfg := args.Config
	ami, err := ssm.LookupParameter(ctx, &ssm.LookupParameterArgs{Name: natInstanceAMIParameter}, parent)
	if err != nil {
		return nil, fmt.Errorf("network: NAT instance AMI: %w", err)
	}

	sg, err := ec2.NewSecurityGroup(ctx, name+"-nat", &ec2.SecurityGroupArgs{
		VpcId:       args.VpcID,
		Description: pulumi.String("NAT instance: in from the VPC only, out to anywhere"),
	}, parent)
	if err != nil {
		return nil, err
	}
	// Everything the VPC sends to the internet passes through here; nothing
	// from outside the VPC may open a connection to it (no SSH: SSM instead).
	if _, err := vpc.NewSecurityGroupIngressRule(ctx, name+"-nat-from-vpc", &vpc.SecurityGroupIngressRuleArgs{
		SecurityGroupId: sg.ID(),
		CidrIpv4:        pulumi.String(cfg.VpcCidr),
		IpProtocol:      pulumi.String("-1"),
		Description:     pulumi.String("Traffic to translate, from the VPC"),
	}, parent); err != nil {
		return nil, err
	}
	if _, err := vpc.NewSecurityGroupEgressRule(ctx, name+"-nat-to-internet", &vpc.SecurityGroupEgressRuleArgs{
		SecurityGroupId: sg.ID(),
		CidrIpv4:        pulumi.String("0.0.0.0/0"),
		IpProtocol:      pulumi.String("-1"),
		Description:     pulumi.String("Translated traffic, to the internet"),
	}, parent); err != nil {
		return nil, err
	}

	role, err := iam.NewRole(ctx, name+"-nat", &iam.RoleArgs{
		Description: pulumi.String("NAT instance: Systems Manager agent only"),
		// No aws:SourceAccount condition, unlike every other trust policy
		// here: the role reaches an instance only through an instance
		// profile of this account (launching with it needs iam:PassRole
		// here), so there is no other account to guard against, and EC2
		// is not documented to send that key when it assumes the role; a
		// condition on a missing key would leave the instance without
		// credentials and unmanaged.
		AssumeRolePolicy: policyDocument(statement{
			Principals: pulumi.StringArrayMap{"Service": pulumi.ToStringArray([]string{"ec2.amazonaws.com"})},
			Actions:    []string{"sts:AssumeRole"},
		}),
	}, parent)
	if err != nil {
		return nil, err
	}
	if _, err := iam.NewRolePolicyAttachment(ctx, name+"-nat-ssm", &iam.RolePolicyAttachmentArgs{
		Role:      role.Name,
		PolicyArn: pulumi.String(ssmManagedInstanceCore),
	}, parent); err != nil {
		return nil, err
	}
	profile, err := iam.NewInstanceProfile(ctx, name+"-nat", &iam.InstanceProfileArgs{Role: role.Name}, parent)
	if err != nil {
		return nil, err
	}

	instance, err := ec2.NewInstance(ctx, name+"-nat", &ec2.InstanceArgs{
		Ami:          pulumi.String(ami.Value),
		InstanceType: pulumi.String(cfg.NatInstanceType),
		// The first public subnet: its route table sends 0.0.0.0/0 to the
		// internet gateway.
		SubnetId:            args.PublicSubnetIDs.Index(pulumi.Int(0)),
		VpcSecurityGroupIds: pulumi.StringArray{sg.ID()},
		// A NAT forwards packets that are neither from nor for itself.
		SourceDestCheck: pulumi.Bool(false),
		// The public subnets hand out no public addresses (EC2.15), so the
		// instance asks for its own; it is what FSBP EC2.9 counts against
		// dev.
		AssociatePublicIpAddress: pulumi.Bool(true),
		IamInstanceProfile:       profile.Name,
		// EC2.8: IMDSv2 only, and a hop limit of 1 so no forwarded packet
		// can reach the metadata service.
		MetadataOptions: &ec2.InstanceMetadataOptionsArgs{
			HttpEndpoint:            pulumi.String("enabled"),
			HttpTokens:              pulumi.String("required"),
			HttpPutResponseHopLimit: pulumi.Int(1),
		},
		// EC2.3: the only volume, encrypted.
		RootBlockDevice: &ec2.InstanceRootBlockDeviceArgs{
			VolumeType:          pulumi.String("gp3"),
			VolumeSize:          pulumi.Int(natInstanceRootGiB),
			Encrypted:           pulumi.Bool(true),
			DeleteOnTermination: pulumi.Bool(true),
		},
		// Standard credits: a busy NAT slows down instead of adding
		// surplus-credit charges to the bill.
		CreditSpecification: &ec2.InstanceCreditSpecificationArgs{CpuCredits: pulumi.String("standard")},
		UserData:            pulumi.String(natUserData),
		// User data runs only at first boot: a changed script needs a new
		// instance, not a restarted one.
		UserDataReplaceOnChange: pulumi.Bool(true),
		Tags:                    pulumi.StringMap{"Name": pulumi.Sprintf("%s-%s-nat", cfg.Project, cfg.Stack)},
	}, parent, pulumi.DependsOn([]pulumi.Resource{args.Vpc}))
	if err != nil {
		return nil, err
	}

	egress := []pulumi.Resource{instance}
	// awsx with NAT strategy None gives each private subnet its own route
	// table and no default route (awsx/ec2/vpc.ts, v2.21.0); the program
	// adds it. The route table is found from the subnet, after the VPC
	// component, so the table's association exists when it is looked up.
	for i := range cfg.AvailabilityZones {
		table := ec2.LookupRouteTableOutput(ctx, ec2.LookupRouteTableOutputArgs{
			SubnetId: args.PrivateSubnetIDs.Index(pulumi.Int(i)),
		}, parent, pulumi.DependsOn([]pulumi.Resource{args.Vpc}))
		route, err := ec2.NewRoute(ctx, fmt.Sprintf("%s-private-%d-nat", name, i+1), &ec2.RouteArgs{
			RouteTableId:         table.RouteTableId(),
			DestinationCidrBlock: pulumi.String("0.0.0.0/0"),
			NetworkInterfaceId:   instance.PrimaryNetworkInterfaceId,
		}, parent)
		if err != nil {
			return nil, err
		}
		egress = append(egress, route)
	}
	return egress, nil
}
