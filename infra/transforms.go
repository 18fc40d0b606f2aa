package main

import (
	"context"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Resource transforms for children of the awsx components. awsx creates those
// children in its own plugin, so their arguments and options cannot be set
// from here directly; the engine runs a component's transforms on every
// child it registers, packaged components included.

// retainPushedImages keeps every pushed image in ECR when its build resource
// goes away. awsx's ecr.Image names its docker-build child after the image
// tag, so a new tag creates a new child and deletes the old one, and
// docker-build's delete removes the old child's manifest from the registry:
// the image that the running tasks (or a rollback) still use. With this
// option Pulumi forgets the old child instead, and only the repository's
// lifecycle policy (keepImages) ever removes an image.
func retainPushedImages(_ context.Context, args *pulumi.ResourceTransformArgs) *pulumi.ResourceTransformResult {
	if args.Type != "docker-build:index:Image" {
		return nil
	}
	opts := args.Opts
	opts.RetainOnDelete = true
	return &pulumi.ResourceTransformResult{Props: args.Props, Opts: opts}
}

// noPublicIPOnLaunch turns off automatic public IPv4 addresses in every subnet
// of the awsx VPC (FSBP EC2.15). awsx sets mapPublicIpOnLaunch on public
// subnets; nothing here needs it: the ALB and the NAT gateways get their
// addresses from AWS and from an Elastic IP, and tasks run in private subnets.
func noPublicIPOnLaunch(_ context.Context, args *pulumi.ResourceTransformArgs) *pulumi.ResourceTransformResult {
	if args.Type != "aws:ec2/subnet:Subnet" {
		return nil
	}
	props := pulumi.Map{}
	for k, v := range args.Props {
		props[k] = v
	}
	props["mapPublicIpOnLaunch"] = pulumi.Bool(false)
	return &pulumi.ResourceTransformResult{Props: props, Opts: args.Opts}
}
