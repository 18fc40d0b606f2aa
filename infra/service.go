package main

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/fargateshop/shop/platform/routing"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/appautoscaling"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecr"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecs"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/iam"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lb"
	awsxecr "github.com/pulumi/pulumi-awsx/sdk/v2/go/awsx/ecr"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// keepImages is how many pushed images each repository keeps.
const keepImages = 20

// Service is one declared app running on Fargate behind the ALB.
type Service struct {
	pulumi.ResourceState

	Name          pulumi.StringOutput
	RepositoryURL pulumi.StringOutput
	LogGroupName  pulumi.StringOutput
	ImageURI      pulumi.StringOutput
}

type serviceArgs struct {
	Config   Config
	Spec     routing.Service
	Services []routing.Service
	Source   buildSource
	// Provider goes to the awsx image explicitly; see networkArgs.Provider.
	Provider  *aws.Provider
	AccountID string

	Cluster          *Cluster
	PrivateSubnetIDs pulumi.StringArrayOutput
	SecurityGroupID  pulumi.IDOutput
	TargetGroup      *lb.TargetGroup
	LoadBalancer     *LoadBalancer
	// Database is nil for services that own no schema.
	Database *Database
	// AdminToken is nil for services that do not read ADMIN_TOKEN.
	AdminToken *AdminToken
}

func newService(ctx *pulumi.Context, args serviceArgs, opts ...pulumi.ResourceOption) (*Service, error) {
	spec, cfg := args.Spec, args.Config
	s := &Service{}
	if err := ctx.RegisterComponentResource("shop:service:Service", spec.Name, s, opts...); err != nil {
		return nil, err
	}
	parent := pulumi.Parent(s)
	tags := serviceTags(spec.Name)

	repo, err := newRepository(ctx, spec.Name, cfg, tags, parent)
	if err != nil {
		return nil, err
	}
	// Built by `pulumi up` from the repository root; imageUri carries the
	// digest, so the task definition changes exactly when the image does.
	tag, err := args.Source.ImageTag(spec.Name, cfg.Platform)
	if err != nil {
		return nil, err
	}
	image, err := awsxecr.NewImage(ctx, spec.Name, &awsxecr.ImageArgs{
		RepositoryUrl: repo.RepositoryUrl,
		Context:       pulumi.String(args.Source.Root),
		Dockerfile:    pulumi.String(args.Source.Dockerfile(spec.Name)),
		Platform:      pulumi.String(cfg.Platform),
		ImageTag:      pulumi.String(tag),
		// The binary reports the tag as its version.
		Args: pulumi.StringMap{"VERSION": pulumi.String(tag)},
	}, parent, pulumi.Providers(args.Provider))
	if err != nil {
		return nil, err
	}

	logs, err := cloudwatch.NewLogGroup(ctx, spec.Name, &cloudwatch.LogGroupArgs{
		Name:            pulumi.Sprintf("/%s/%s/%s", cfg.Project, cfg.Stack, spec.Name),
		RetentionInDays: pulumi.Int(cfg.LogRetentionDays),
		Tags:            tags,
	}, parent)
	if err != nil {
		return nil, err
	}

	// Secrets the container receives, by variable name; the execution role
	// may read exactly these.
	secrets := map[string]pulumi.StringInput{}
	var secretArns pulumi.StringArray
	if args.Database != nil {
		// ECS extracts one JSON key: <secret-arn>:<json-key>:<stage>:<version>.
		secrets["PGPASSWORD"] = pulumi.Sprintf("%s:password::", args.Database.SecretArn)
		secretArns = append(secretArns, args.Database.SecretArn)
	}
	if args.AdminToken != nil {
		secrets["ADMIN_TOKEN"] = args.AdminToken.SecretArn
		secretArns = append(secretArns, args.AdminToken.SecretArn)
	}

	execRole, taskRole, err := newRoles(ctx, spec.Name, cfg, args.AccountID, tags, repo.Arn, logs.Arn, secretArns, parent)
	if err != nil {
		return nil, err
	}

	containers := containerDefinitions(cfg, spec, args.Services, image.ImageUri, logs.Name, args.Database, secrets)
	task, err := ecs.NewTaskDefinition(ctx, spec.Name, &ecs.TaskDefinitionArgs{
		Family:                  pulumi.Sprintf("%s-%s-%s", cfg.Project, cfg.Stack, spec.Name),
		NetworkMode:             pulumi.String("awsvpc"),
		RequiresCompatibilities: pulumi.ToStringArray([]string{"FARGATE"}),
		Cpu:                     pulumi.String(strconv.Itoa(cfg.CPU)),
		Memory:                  pulumi.String(strconv.Itoa(cfg.Memory)),
		RuntimePlatform: &ecs.TaskDefinitionRuntimePlatformArgs{
			OperatingSystemFamily: pulumi.String("LINUX"),
			CpuArchitecture:       pulumi.String(cfg.CPUArchitecture()),
		},
		ExecutionRoleArn:     execRole.Arn,
		TaskRoleArn:          taskRole.Arn,
		ContainerDefinitions: containers,
		Volumes:              taskVolumes(cfg),
		Tags:                 tags,
	}, parent)
	if err != nil {
		return nil, err
	}

	service, err := ecs.NewService(ctx, spec.Name, &ecs.ServiceArgs{
		Name:                       pulumi.String(spec.Name),
		Cluster:                    args.Cluster.Arn,
		TaskDefinition:             task.Arn,
		DesiredCount:               pulumi.Int(cfg.MinTasks),
		CapacityProviderStrategies: serviceStrategy(cfg),
		NetworkConfiguration: &ecs.ServiceNetworkConfigurationArgs{
			Subnets:        args.PrivateSubnetIDs,
			SecurityGroups: pulumi.StringArray{args.SecurityGroupID},
			AssignPublicIp: pulumi.Bool(false), // ECS.2
		},
		LoadBalancers: ecs.ServiceLoadBalancerArray{&ecs.ServiceLoadBalancerArgs{
			TargetGroupArn: args.TargetGroup.Arn,
			ContainerName:  pulumi.String(spec.Name),
			ContainerPort:  pulumi.Int(spec.Port),
		}},
		// Rolling deploys that never drop below the running count and roll
		// back by themselves when new tasks do not become healthy.
		DeploymentMinimumHealthyPercent: pulumi.Int(100),
		DeploymentMaximumPercent:        pulumi.Int(200),
		DeploymentCircuitBreaker: &ecs.ServiceDeploymentCircuitBreakerArgs{
			Enable:   pulumi.Bool(true),
			Rollback: pulumi.Bool(true),
		},
		HealthCheckGracePeriodSeconds: pulumi.Int(cfg.HealthCheckGracePeriodSeconds),
		EnableExecuteCommand:          pulumi.Bool(cfg.EnableExecuteCommand),
		// Every service is client and server: it is reachable as
		// http://<name>:<port> and resolves the names of the others.
		ServiceConnectConfiguration: &ecs.ServiceServiceConnectConfigurationArgs{
			Enabled:   pulumi.Bool(true),
			Namespace: args.Cluster.NamespaceArn,
			Services: ecs.ServiceServiceConnectConfigurationServiceArray{&ecs.ServiceServiceConnectConfigurationServiceArgs{
				PortName:      pulumi.String(spec.Name),
				DiscoveryName: pulumi.String(spec.Name),
				ClientAlias: ecs.ServiceServiceConnectConfigurationServiceClientAliasArray{
					&ecs.ServiceServiceConnectConfigurationServiceClientAliasArgs{
						DnsName: pulumi.String(spec.Name),
						Port:    pulumi.Int(spec.Port),
					},
				},
			}},
			LogConfiguration: &ecs.ServiceServiceConnectConfigurationLogConfigurationArgs{
				LogDriver: pulumi.String("awslogs"),
				Options: pulumi.StringMap{
					"awslogs-group":         logs.Name,
					"awslogs-region":        pulumi.String(cfg.Region),
					"awslogs-stream-prefix": pulumi.String("service-connect"),
				},
			},
		},
		PropagateTags:        pulumi.String("SERVICE"),
		EnableEcsManagedTags: pulumi.Bool(true),
		// `pulumi up` returns once the new tasks serve traffic, so the
		// smoke test can run right after it.
		WaitForSteadyState: pulumi.Bool(true),
		Tags:               tags,
	}, parent,
		// Autoscaling owns the running count after the first deploy.
		pulumi.IgnoreChanges([]string{"desiredCount"}),
		// A target group must be attached to a listener before a service
		// can register into it, and the capacity providers must exist.
		pulumi.DependsOn(append([]pulumi.Resource{args.Cluster.CapacityProviders}, args.LoadBalancer.Listeners...)))
	if err != nil {
		return nil, err
	}

	if err := autoscale(ctx, spec.Name, cfg, args.Cluster.Name, service.Name,
		args.LoadBalancer.ArnSuffix, args.TargetGroup.ArnSuffix, tags, parent); err != nil {
		return nil, err
	}

	s.Name = service.Name
	s.RepositoryURL = repo.RepositoryUrl
	s.LogGroupName = logs.Name
	s.ImageURI = image.ImageUri
	return s, ctx.RegisterResourceOutputs(s, pulumi.Map{
		"name":          s.Name,
		"repositoryUrl": s.RepositoryURL,
		"logGroupName":  s.LogGroupName,
		"imageUri":      s.ImageURI,
	})
}

// newRepository creates the service's ECR repository: scanned on push (ECR.1),
// immutable tags (ECR.2) and a lifecycle policy (ECR.3).
func newRepository(ctx *pulumi.Context, name string, cfg Config, tags pulumi.StringMap,
	parent pulumi.ResourceOrInvokeOption,
) (*ecr.Repository, error) {
	repo, err := ecr.NewRepository(ctx, name, &ecr.RepositoryArgs{
		ImageTagMutability:         pulumi.String("IMMUTABLE"),
		ImageScanningConfiguration: &ecr.RepositoryImageScanningConfigurationArgs{ScanOnPush: pulumi.Bool(true)},
		EncryptionConfigurations: ecr.RepositoryEncryptionConfigurationArray{
			&ecr.RepositoryEncryptionConfigurationArgs{EncryptionType: pulumi.String("AES256")},
		},
		// Only dev may delete a repository that still holds images.
		ForceDelete: pulumi.Bool(cfg.ForceDestroy),
		Tags:        tags,
	}, parent)
	if err != nil {
		return nil, err
	}
	policy, err := json.Marshal(map[string]any{"rules": []map[string]any{
		{
			"rulePriority": 1,
			"description":  "Drop untagged layers left by rebuilds",
			"selection":    map[string]any{"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 1},
			"action":       map[string]any{"type": "expire"},
		},
		{
			"rulePriority": 2,
			"description":  fmt.Sprintf("Keep the last %d images for rollbacks", keepImages),
			"selection":    map[string]any{"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keepImages},
			"action":       map[string]any{"type": "expire"},
		},
	}})
	if err != nil {
		return nil, err
	}
	_, err = ecr.NewLifecyclePolicy(ctx, name, &ecr.LifecyclePolicyArgs{
		Repository: repo.Name,
		Policy:     pulumi.String(string(policy)),
	}, parent)
	return repo, err
}

// newRoles creates the execution role (used by ECS to pull the image, write
// logs and fetch this service's secrets) and the task role (used by the app).
// The apps call no AWS API, so the task role is empty unless ECS Exec is on.
func newRoles(ctx *pulumi.Context, name string, cfg Config, accountID string, tags pulumi.StringMap,
	repoArn, logGroupArn pulumi.StringOutput, secretArns pulumi.StringArray, parent pulumi.ResourceOrInvokeOption,
) (exec, task *iam.Role, err error) {
	exec, err = iam.NewRole(ctx, name+"-execution", &iam.RoleArgs{
		Description:      pulumi.Sprintf("ECS agent for %s: image, logs, secrets", name),
		AssumeRolePolicy: assumeRolePolicy("ecs-tasks.amazonaws.com", accountID),
		Tags:             tags,
	}, parent)
	if err != nil {
		return nil, nil, err
	}
	statements := []statement{
		{
			// ECR issues registry-wide tokens: this action has no resource.
			Sid:       "RegistryLogin",
			Actions:   []string{"ecr:GetAuthorizationToken"},
			Resources: pulumi.StringArray{pulumi.String("*")},
		},
		{
			Sid:       "PullOwnImage",
			Actions:   []string{"ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"},
			Resources: pulumi.StringArray{repoArn},
		},
		{
			Sid:       "WriteOwnLogs",
			Actions:   []string{"logs:CreateLogStream", "logs:PutLogEvents"},
			Resources: pulumi.StringArray{pulumi.Sprintf("%s:*", logGroupArn)},
		},
	}
	if len(secretArns) > 0 {
		statements = append(statements, statement{
			Sid:       "ReadOwnSecrets",
			Actions:   []string{"secretsmanager:GetSecretValue"},
			Resources: secretArns,
		})
	}
	if _, err := iam.NewRolePolicy(ctx, name+"-execution", &iam.RolePolicyArgs{
		Role:   exec.Name,
		Policy: policyDocument(statements...),
	}, parent); err != nil {
		return nil, nil, err
	}

	task, err = iam.NewRole(ctx, name+"-task", &iam.RoleArgs{
		Description:      pulumi.Sprintf("Application role of %s", name),
		AssumeRolePolicy: assumeRolePolicy("ecs-tasks.amazonaws.com", accountID),
		Tags:             tags,
	}, parent)
	if err != nil {
		return nil, nil, err
	}
	if cfg.EnableExecuteCommand {
		// ECS Exec opens SSM channels. AWS documents these four actions
		// with Resource "*" (they take no resource ARN); they are named
		// one by one, never "ssmmessages:*".
		if _, err := iam.NewRolePolicy(ctx, name+"-exec", &iam.RolePolicyArgs{
			Role: task.Name,
			Policy: policyDocument(statement{
				Sid: "EcsExecChannels",
				Actions: []string{
					"ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
					"ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel",
				},
				Resources: pulumi.StringArray{pulumi.String("*")},
			}),
		}, parent); err != nil {
			return nil, nil, err
		}
	}
	return exec, task, nil
}

// autoscale keeps between minTasks and maxTasks running, scaling on whichever
// of CPU and requests per task asks for more.
func autoscale(ctx *pulumi.Context, name string, cfg Config, clusterName, serviceName,
	albSuffix, targetGroupSuffix pulumi.StringOutput, tags pulumi.StringMap, parent pulumi.ResourceOrInvokeOption,
) error {
	target, err := appautoscaling.NewTarget(ctx, name, &appautoscaling.TargetArgs{
		ServiceNamespace:  pulumi.String("ecs"),
		ScalableDimension: pulumi.String("ecs:service:DesiredCount"),
		ResourceId:        pulumi.Sprintf("service/%s/%s", clusterName, serviceName),
		MinCapacity:       pulumi.Int(cfg.MinTasks),
		MaxCapacity:       pulumi.Int(cfg.MaxTasks),
		Tags:              tags,
	}, parent)
	if err != nil {
		return err
	}
	policies := []struct {
		suffix, metric string
		target         float64
		label          pulumi.StringPtrInput
	}{
		{"cpu", "ECSServiceAverageCPUUtilization", float64(cfg.CPUTargetPercent), nil},
		{"requests", "ALBRequestCountPerTarget", float64(cfg.RequestsPerTarget),
			// app/<alb-name>/<id>/targetgroup/<tg-name>/<id>
			pulumi.Sprintf("%s/%s", albSuffix, targetGroupSuffix)},
	}
	for _, p := range policies {
		if _, err := appautoscaling.NewPolicy(ctx, name+"-"+p.suffix, &appautoscaling.PolicyArgs{
			PolicyType:        pulumi.String("TargetTrackingScaling"),
			ServiceNamespace:  target.ServiceNamespace,
			ScalableDimension: target.ScalableDimension,
			ResourceId:        target.ResourceId,
			TargetTrackingScalingPolicyConfiguration: &appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationArgs{
				TargetValue: pulumi.Float64(p.target),
				PredefinedMetricSpecification: &appautoscaling.PolicyTargetTrackingScalingPolicyConfigurationPredefinedMetricSpecificationArgs{
					PredefinedMetricType: pulumi.String(p.metric),
					ResourceLabel:        p.label,
				},
				ScaleOutCooldown: pulumi.Int(60),
				ScaleInCooldown:  pulumi.Int(300),
			},
		}, parent); err != nil {
			return err
		}
	}
	return nil
}
