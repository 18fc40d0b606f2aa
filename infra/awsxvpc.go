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
	nat := awsxNatLayout(vpc)
	zones, strategy := len(nat.Zones), nat.Strategy
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
		if i <= len(nat.GatewayZones) {
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

// awsxNat is where the awsx VPC puts NAT gateways.
type awsxNat struct {
	// Zones are the VPC's zones; when the VPC names none, awsx takes
	// numberOfAvailabilityZones (default 3) and they are "zone 1", ...
	Zones []string
	// Strategy is natGateways.strategy, awsx's default OnePerAz when unset.
	Strategy string
	// GatewayZones get a NAT gateway each: the first zone for Single, every
	// zone for OnePerAz, none for None (vpc.ts, shouldCreateNatGateway).
	GatewayZones []string
}

// awsxNatLayout reads the NAT layout from the VPC's inputs. The plan's
// resource list, diagram and cost all take it from here.
func awsxNatLayout(vpc recorded) awsxNat {
	nat := awsxNat{Zones: asStrings(vpc.Inputs["availabilityZoneNames"]), Strategy: "OnePerAz"}
	if len(nat.Zones) == 0 {
		n := 3 // getDefaultAzs in vpc.ts
		if v, ok := vpc.Inputs["numberOfAvailabilityZones"].(float64); ok {
			n = int(v)
		}
		for i := 1; i <= n; i++ {
			nat.Zones = append(nat.Zones, fmt.Sprintf("zone %d", i))
		}
	}
	if s, ok := dig(vpc.Inputs, "natGateways", "strategy").(string); ok && s != "" {
		nat.Strategy = s
	}
	switch strings.ToLower(nat.Strategy) {
	case "single":
		nat.GatewayZones = nat.Zones[:1]
	case "oneperaz":
		nat.GatewayZones = nat.Zones
	}
	return nat
}
