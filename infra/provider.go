package main

import (
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// sharedService is the service tag of resources no single app owns (VPC,
// load balancer, cluster, database). Per-app resources override it.
const sharedService = "shared"

// newAWSProvider creates the one AWS provider the whole stack uses. Its default
// tags reach every AWS resource, including the ones awsx components create on
// our behalf, so nothing in the account is left without project, stack and
// service tags.
func newAWSProvider(ctx *pulumi.Context, cfg Config) (*aws.Provider, error) {
	return aws.NewProvider(ctx, "aws", &aws.ProviderArgs{
		Region: pulumi.String(cfg.Region),
		DefaultTags: &aws.ProviderDefaultTagsArgs{
			Tags: pulumi.StringMap{
				"project":    pulumi.String(cfg.Project),
				"stack":      pulumi.String(cfg.Stack),
				"service":    pulumi.String(sharedService),
				"managed-by": pulumi.String("pulumi"),
			},
		},
	})
}

// serviceTags marks a resource as belonging to one app. Explicit tags win over
// the provider's default tags with the same key.
func serviceTags(service string) pulumi.StringMap {
	return pulumi.StringMap{"service": pulumi.String(service)}
}
