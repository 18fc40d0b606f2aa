package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/fargateshop/shop/platform/routing"
)

// TestNatInstance proves what natGateways Instance builds: one hardened
// instance in the first public subnet that forwards for the VPC, and a
// default route to it in every private subnet's route table; and that the
// NAT gateway stacks build none of it.
//
// What AWS documents and this test holds the program to: a NAT instance must
// have source/destination checking off, sit in a public subnet with a public
// address, and be the target of the private subnets' 0.0.0.0/0 routes
// ("NAT instances", Amazon VPC user guide,
// https://docs.aws.amazon.com/vpc/latest/userguide/VPC_NAT_Instance.html);
// IMDSv2 is required when http_tokens is "required", and a hop limit of 1
// keeps the token from answering anything the instance forwards ("Configure
// the instance metadata options", Amazon EC2 user guide); EBS encryption is
// per volume (FSBP EC2.3).
func TestNatInstance(t *testing.T) {
	forEach(t, func(t *testing.T, sc scenario, st *stack) {
		instances := st.ofType("aws:ec2/instance:Instance")
		routes := st.ofType("aws:ec2/route:Route")
		if sc.nat != "Instance" {
			for _, typ := range []string{"aws:ec2/instance:Instance", "aws:ec2/route:Route", "aws:iam/instanceProfile:InstanceProfile"} {
				if got := st.ofType(typ); len(got) != 0 {
					t.Errorf("natGateways %s: got %d %s, want none", sc.nat, len(got), typ)
				}
			}
			return
		}
		if len(instances) != 1 {
			t.Fatalf("got %d EC2 instances, want 1", len(instances))
		}
		nat := instances[0]
		vpc := st.one(t, "awsx:ec2:Vpc", "network")
		public, private := asStrings(vpc.Outputs["publicSubnetIds"]), asStrings(vpc.Outputs["privateSubnetIds"])
		sg := st.one(t, "aws:ec2/securityGroup:SecurityGroup", "network-nat")
		profile := st.one(t, "aws:iam/instanceProfile:InstanceProfile", "network-nat")
		role := st.one(t, "aws:iam/role:Role", "network-nat")

		inputs := []struct {
			key  string
			got  any
			want any
		}{
			{"ami", nat.Inputs["ami"], mockSSMParameters["/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"]},
			{"instanceType", nat.Inputs["instanceType"], sc.value("natInstanceType")},
			{"subnetId", nat.Inputs["subnetId"], public[0]},
			{"vpcSecurityGroupIds", fmt.Sprint(nat.Inputs["vpcSecurityGroupIds"]), fmt.Sprint([]any{"sg-" + sg.Name})},
			{"sourceDestCheck", nat.Inputs["sourceDestCheck"], false},
			{"associatePublicIpAddress", nat.Inputs["associatePublicIpAddress"], true},
			{"keyName", nat.Inputs["keyName"], nil},
			{"iamInstanceProfile", nat.Inputs["iamInstanceProfile"], profile.Outputs["name"]},
			{"metadataOptions.httpTokens", dig(nat.Inputs, "metadataOptions", "httpTokens"), "required"},
			{"metadataOptions.httpPutResponseHopLimit", dig(nat.Inputs, "metadataOptions", "httpPutResponseHopLimit"), 1.0},
			{"rootBlockDevice.encrypted", dig(nat.Inputs, "rootBlockDevice", "encrypted"), true},
			{"rootBlockDevice.volumeType", dig(nat.Inputs, "rootBlockDevice", "volumeType"), "gp3"},
			{"userDataReplaceOnChange", nat.Inputs["userDataReplaceOnChange"], true},
			{"profile role", profile.Inputs["role"], role.Outputs["name"]},
		}
		for _, in := range inputs {
			if in.got != in.want {
				t.Errorf("NAT instance %s: got %v, want %v", in.key, in.got, in.want)
			}
		}
		// The user data is what makes it a NAT, and it must survive a reboot.
		userData := fmt.Sprint(nat.Inputs["userData"])
		for _, want := range []string{"net.ipv4.ip_forward=1", "/etc/sysctl.d/", "-j MASQUERADE", "iptables -F FORWARD",
			"dnf install -y iptables-services", "systemctl enable --now iptables", "iptables-save > /etc/sysconfig/iptables",
			"mkswap /swapfile", "swapon -a"} {
			if !strings.Contains(userData, want) {
				t.Errorf("NAT user data lacks %q:\n%s", want, userData)
			}
		}
		// The AMI's architecture is the one every instance type config
		// accepts: an arm64 AMI with only Graviton types.
		if !strings.HasSuffix(natInstanceAMIParameter, "-arm64") || !graviton.MatchString(fmt.Sprint(nat.Inputs["instanceType"])) {
			t.Errorf("got AMI parameter %s for instance type %v, want an arm64 AMI for a Graviton type", natInstanceAMIParameter, nat.Inputs["instanceType"])
		}
		if !waitsFor(nat, "awsx:ec2:Vpc", "network") {
			t.Errorf("NAT instance: got dependencies %v, want the VPC (its user data needs the internet gateway route)", nat.DependsOn)
		}

		// Its own group: everything from the VPC, nothing from elsewhere.
		var ingress, egress []string
		for _, r := range st.where("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "securityGroupId", "sg-"+sg.Name) {
			ingress = append(ingress, fmt.Sprintf("%v %v %v", r.Inputs["ipProtocol"], r.Inputs["cidrIpv4"], r.Inputs["referencedSecurityGroupId"]))
		}
		for _, r := range st.where("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", "securityGroupId", "sg-"+sg.Name) {
			egress = append(egress, fmt.Sprintf("%v %v", r.Inputs["ipProtocol"], r.Inputs["cidrIpv4"]))
		}
		if want := []string{fmt.Sprintf("-1 %s <nil>", sc.value("vpcCidr"))}; !slices.Equal(ingress, want) {
			t.Errorf("NAT security group: got inbound %v, want %v", ingress, want)
		}
		if want := []string{"-1 0.0.0.0/0"}; !slices.Equal(egress, want) {
			t.Errorf("NAT security group: got outbound %v, want %v", egress, want)
		}

		// Its role: assumed by EC2, the SSM managed policy, nothing else.
		var trust struct{ Statement []policyStatement }
		if err := json.Unmarshal([]byte(fmt.Sprint(role.Inputs["assumeRolePolicy"])), &trust); err != nil {
			t.Fatalf("NAT role trust policy: %v", err)
		}
		if len(trust.Statement) != 1 || fmt.Sprint(dig(asMap(trust.Statement[0].Principal), "Service")) != "[ec2.amazonaws.com]" ||
			fmt.Sprint(strs(trust.Statement[0].Action)) != "[sts:AssumeRole]" {
			t.Errorf("NAT role: got trust %+v, want EC2 only", trust.Statement)
		}
		var attached []string
		for _, a := range st.where("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "role", role.Outputs["name"]) {
			attached = append(attached, fmt.Sprint(a.Inputs["policyArn"]))
		}
		if want := []string{ssmManagedInstanceCore}; !slices.Equal(attached, want) {
			t.Errorf("NAT role: got managed policies %v, want %v", attached, want)
		}
		if got := st.where("aws:iam/rolePolicy:RolePolicy", "role", role.Outputs["name"]); len(got) != 0 {
			t.Errorf("NAT role: got inline policies %v, want none", got)
		}

		// One default route per private subnet, in that subnet's own route
		// table, to the instance's network interface.
		if len(routes) != len(private) || len(private) != sc.zones {
			t.Fatalf("got %d routes for %d private subnets, want one per subnet in %d zones", len(routes), len(private), sc.zones)
		}
		for i, subnet := range private {
			route := st.one(t, "aws:ec2/route:Route", fmt.Sprintf("network-private-%d-nat", i+1))
			if got, want := route.Inputs["routeTableId"], mockRouteTableID(subnet); got != want {
				t.Errorf("%s: got route table %v, want %s, the one of %s", route.Name, got, want, subnet)
			}
			if route.Inputs["destinationCidrBlock"] != "0.0.0.0/0" || route.Inputs["networkInterfaceId"] != nat.Outputs["primaryNetworkInterfaceId"] {
				t.Errorf("%s: got %v -> %v, want 0.0.0.0/0 -> %v", route.Name, route.Inputs["destinationCidrBlock"],
					route.Inputs["networkInterfaceId"], nat.Outputs["primaryNetworkInterfaceId"])
			}
			if route.Inputs["natGatewayId"] != nil || route.Inputs["gatewayId"] != nil {
				t.Errorf("%s: got a gateway target too: %v", route.Name, route.Inputs)
			}
		}
		var lookups int
		for _, c := range st.calls {
			if c.Token == "aws:ec2/getRouteTable:getRouteTable" {
				lookups++
			}
		}
		if lookups != len(private) {
			t.Errorf("got %d route table lookups, want one per private subnet (%d)", lookups, len(private))
		}
	})
}

// TestServicesWaitForEgress: a task pulls its image, reads its secrets and
// ships its logs through NAT: a Fargate task in a private subnet needs a NAT
// (or VPC endpoints) to reach ECR ("CannotPullContainer task errors in
// Amazon ECS", Amazon ECS developer guide). A service created before the way out is
// complete starts tasks that fail to pull (CannotPullContainerError) and may
// trip the circuit breaker on the first deploy; every ECS service waits for
// the VPC and, with a NAT instance, for the instance and every route to it.
func TestServicesWaitForEgress(t *testing.T) {
	forEach(t, func(t *testing.T, sc scenario, st *stack) {
		want := []recorded{st.one(t, "awsx:ec2:Vpc", "network")}
		want = append(want, st.ofType("aws:ec2/instance:Instance")...)
		want = append(want, st.ofType("aws:ec2/route:Route")...)
		if sc.nat == "Instance" && len(want) != 2+sc.zones {
			t.Fatalf("got egress %d resources, want the VPC, the instance and %d routes", len(want), sc.zones)
		}
		for _, s := range routing.Services {
			svc := st.one(t, "aws:ecs/service:Service", s.Name)
			for _, r := range want {
				if !waitsFor(svc, r.Type, r.Name) {
					t.Errorf("%s: does not wait for %s %s", s.Name, r.Type, r.Name)
				}
			}
		}
	})
}
