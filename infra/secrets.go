package main

import (
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/secretsmanager"
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// adminTokenReaders are the services that read ADMIN_TOKEN. The routing
// declaration does not describe secrets, so this one fact lives here.
var adminTokenReaders = map[string]bool{"catalog": true}

// AdminToken is the catalog admin API token, kept in Secrets Manager so tasks
// receive it through ECS secrets and it never appears in a task definition.
type AdminToken struct {
	pulumi.ResourceState

	SecretArn pulumi.StringOutput
}

type adminTokenArgs struct {
	Config Config
	// Readers are the services given the token, for tags and description.
	Readers []string
}

func newAdminToken(ctx *pulumi.Context, name string, args adminTokenArgs, opts ...pulumi.ResourceOption) (*AdminToken, error) {
	a := &AdminToken{}
	if err := ctx.RegisterComponentResource("shop:secrets:AdminToken", name, a, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(a)
	cfg := args.Config

	// The operator may choose the token (`pulumi config set --secret
	// adminToken`); otherwise one is generated once and kept in the state,
	// encrypted like every other secret.
	value := cfg.AdminToken
	if !cfg.HasAdminToken {
		generated, err := random.NewRandomPassword(ctx, name, &random.RandomPasswordArgs{
			Length:  pulumi.Int(48),
			Special: pulumi.Bool(false),
		}, parent)
		if err != nil {
			return nil, err
		}
		value = generated.Result
	}

	// Dev deletes at once so the stack can be recreated under the same
	// name; elsewhere Secrets Manager keeps a deleted secret for a week.
	recovery := 7
	if cfg.ForceDestroy {
		recovery = 0
	}
	owner := sharedService
	if len(args.Readers) == 1 {
		owner = args.Readers[0]
	}
	secret, err := secretsmanager.NewSecret(ctx, name, &secretsmanager.SecretArgs{
		Description:          pulumi.Sprintf("%s/%s: ADMIN_TOKEN read by %v", cfg.Project, cfg.Stack, args.Readers),
		RecoveryWindowInDays: pulumi.Int(recovery),
		Tags:                 serviceTags(owner),
	}, parent)
	if err != nil {
		return nil, err
	}
	version, err := secretsmanager.NewSecretVersion(ctx, name, &secretsmanager.SecretVersionArgs{
		SecretId:     secret.ID(),
		SecretString: value,
	}, parent)
	if err != nil {
		return nil, err
	}

	// The version's ARN is the secret's ARN; taking it from the version
	// makes every task wait until the secret holds a value.
	a.SecretArn = version.Arn
	return a, ctx.RegisterResourceOutputs(a, pulumi.Map{"secretArn": a.SecretArn})
}
