package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestAwsxVpcChildren counts what awsx v2.21.0 makes for each stack's VPC,
// by hand from awsx/ec2/vpc.ts: per zone a public and a private subnet, each
// with a route table and an association; a default route for every public
// subnet and, with NAT gateways, every private one; an EIP and a NAT gateway
// per gateway; plus the VPC and the internet gateway.
func TestAwsxVpcChildren(t *testing.T) {
	want := map[string]map[string]int{
		// 2 zones, NAT instance (strategy None): no private routes, no gateway.
		"dev":               {"Subnet": 4, "RouteTable": 4, "RouteTableAssociation": 4, "Route": 2, "Eip": 0, "NatGateway": 0, "Vpc": 1, "InternetGateway": 1},
		"dev+natPerAz":      {"Subnet": 4, "RouteTable": 4, "RouteTableAssociation": 4, "Route": 4, "Eip": 2, "NatGateway": 2, "Vpc": 1, "InternetGateway": 1},
		"dev+natSingle+x86": {"Subnet": 4, "RouteTable": 4, "RouteTableAssociation": 4, "Route": 4, "Eip": 1, "NatGateway": 1, "Vpc": 1, "InternetGateway": 1},
		"prod":              {"Subnet": 6, "RouteTable": 6, "RouteTableAssociation": 6, "Route": 6, "Eip": 3, "NatGateway": 3, "Vpc": 1, "InternetGateway": 1},
	}
	for _, sc := range scenarios(t) {
		w, ok := want[sc.name]
		if !ok {
			continue
		}
		t.Run(sc.name, func(t *testing.T) {
			children := awsxVpcChildren(sc.run(t).one(t, "awsx:ec2:Vpc", "network"))
			got := map[string]int{}
			var names []string
			for _, c := range children {
				got[c.Type[strings.LastIndex(c.Type, ":")+1:]]++
				names = append(names, c.Type+" "+c.Name)
				if c.MadeBy != "awsx:ec2:Vpc network" {
					t.Errorf("%s %s: got made by %q", c.Type, c.Name, c.MadeBy)
				}
			}
			for typ, n := range w {
				if got[typ] != n {
					t.Errorf("%s: got %d, want %d", typ, got[typ], n)
				}
			}
			if len(children) != sumCounts(w) {
				t.Errorf("got %d children, want %d", len(children), sumCounts(w))
			}
			// Names as awsx gives them.
			for _, n := range []string{"aws:ec2/subnet:Subnet network-private-1", "aws:ec2/subnet:Subnet network-public-2"} {
				if !slices.Contains(names, n) {
					t.Errorf("got no %s among %v", n, names)
				}
			}
			if w["NatGateway"] > 0 && !slices.Contains(names, fmt.Sprintf("aws:ec2/natGateway:NatGateway network-%d", w["NatGateway"])) {
				t.Errorf("got no NAT gateway network-%d among %v", w["NatGateway"], names)
			}
		})
	}
}

func sumCounts(m map[string]int) (n int) {
	for _, v := range m {
		n += v
	}
	return n
}
