package main

import (
	"fmt"
	"strings"
)

// awsxVpcChildren lists the resources the awsx VPC component creates when it
// is deployed. Under the mock engine awsx is a remote component whose
// children are never registered, so the plan names them from the VPC's own
// inputs, the way awsx v2.21.0 makes them (awsx/ec2/vpc.ts and
// subnetDistributorNew.ts): the VPC and an internet gateway under the
// component's name; per zone i (from 1) and subnet spec, a subnet, a route
// table and its association named <vpc>-<type>-<i>, a default route for
// public subnets (to the gateway) and, unless the NAT strategy is None, for
// private ones (to a NAT gateway); an Elastic IP and a NAT gateway named
// <vpc>-<i>, in the first zone for Single and in every zone for OnePerAz
// (OnePerAz is awsx's default).
func awsxVpcChildren(vpc recorded) []resourceRef {
	zones := len(asSlice(vpc.Inputs["availabilityZoneNames"]))
	strategy := fmt.Sprint(dig(vpc.Inputs, "natGateways", "strategy"))
	if dig(vpc.Inputs, "natGateways", "strategy") == nil {
		strategy = "OnePerAz"
	}
	out := []resourceRef{
		{Type: "aws:ec2/vpc:Vpc", Name: vpc.Name},
		{Type: "aws:ec2/internetGateway:InternetGateway", Name: vpc.Name},
	}
	for i := 1; i <= zones; i++ {
		for _, spec := range asSlice(vpc.Inputs["subnetSpecs"]) {
			typ := strings.ToLower(fmt.Sprint(dig(spec, "type")))
			name := fmt.Sprintf("%s-%s-%d", vpc.Name, typ, i)
			out = append(out,
				resourceRef{Type: "aws:ec2/subnet:Subnet", Name: name},
				resourceRef{Type: "aws:ec2/routeTable:RouteTable", Name: name},
				resourceRef{Type: "aws:ec2/routeTableAssociation:RouteTableAssociation", Name: name})
			if typ == "public" || (typ == "private" && !strings.EqualFold(strategy, "None")) {
				out = append(out, resourceRef{Type: "aws:ec2/route:Route", Name: name})
			}
		}
		if strings.EqualFold(strategy, "OnePerAz") || (strings.EqualFold(strategy, "Single") && i == 1) {
			name := fmt.Sprintf("%s-%d", vpc.Name, i)
			out = append(out,
				resourceRef{Type: "aws:ec2/eip:Eip", Name: name},
				resourceRef{Type: "aws:ec2/natGateway:NatGateway", Name: name})
		}
	}
	for i := range out {
		out[i].MadeBy = vpc.Type + " " + vpc.Name
	}
	return out
}
