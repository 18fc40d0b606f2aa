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

// A deployment whose targets answer this many 5xx in each of two straight
// minutes is rolled back by ECS (the service's deployment alarm), even when
// its tasks pass their health checks.
const (
	deployAlarm5xxPerMinute = 10
	deployAlarmMinutes      = 2
)

// Service is one declared app running on Fargate behind the ALB.
type Service struct {
	pulumi.ResourceState

	Name          pulumi.StringOutput
	RepositoryURL pulumi.StringOutput
	LogGroupName  pulumi.StringOutput
	ImageURI      pulumi.StringOutput
	// TaskDefinitionArn is the revision this deployment registered; the
	// deploy check compares it with what ECS actually runs.
	TaskDefinitionArn pulumi.StringOutput
	// TaskRoleArn is the app's role; a topic's policy names its
	// publisher's.
	TaskRoleArn pulumi.StringOutput

	// ecs is the ECS service; the services that call this one wait for it.
	ecs *ecs.Service
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
	// Egress is the network's path to the internet (Network.Egress): a task
	// started before it exists cannot pull its image.
	Egress          []pulumi.Resource
	SecurityGroupID pulumi.IDOutput
	TargetGroup     *lb.TargetGroup
	LoadBalancer    *LoadBalancer
	// Database is nil for services that own no schema.
	Database *Database
	// AdminToken is nil for services that do not read ADMIN_TOKEN.
	AdminToken *AdminToken
	// Calls are the services this one depends on, already created.
	Calls []*Service
	// Telemetry is nil when the stack runs no collectors.
	Telemetry *Telemetry
	// Messaging holds the topics and queues of every service.
	Messaging *Messaging
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
		Dockerfile:    pulumi.String(args.Source.Dockerfile()),
		Platform:      pulumi.String(cfg.Platform),
		ImageTag:      pulumi.String(tag),
		// The binary reports the tag as its version (main.version).
		Args: pulumi.ToStringMap(args.Source.BuildArgs(spec.Name, tag)),
	}, parent, pulumi.Providers(args.Provider),
		pulumi.Transforms([]pulumi.ResourceTransform{retainPushedImages}))
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

	// Secrets ECS resolves once, when a task starts, by variable name; the
	// execution role may read exactly these.
	secrets := map[string]pulumi.StringInput{}
	var startSecrets pulumi.StringArray
	if args.AdminToken != nil {
		secrets["ADMIN_TOKEN"] = args.AdminToken.SecretArn
		startSecrets = append(startSecrets, args.AdminToken.SecretArn)
	}
	// The database password is not one of them: RDS rotates it every seven
	// days, and a value injected at start would stop working for new
	// connections then. The app reads it from Secrets Manager whenever it
	// opens a connection (platform/postgres), with the task role.
	var appSecrets pulumi.StringArray
	if args.Database != nil {
		appSecrets = append(appSecrets, args.Database.SecretArn)
	}

	grants := roleGrants{
		Repository: repo.Arn, LogGroup: logs.Arn, StartSecrets: startSecrets, AppSecrets: appSecrets,
	}
	if args.Telemetry != nil {
		grants.MetricsLogGroup = args.Telemetry.LogGroupArn
	}
	grants.PublishTopics = args.Messaging.publishTopics(spec)
	grants.TopicKey = args.Messaging.topicKeyArn
	grants.ConsumeQueues = args.Messaging.consumeQueues(spec)
	roles, err := newRoles(ctx, spec.Name, cfg, args.AccountID, tags, grants, parent)
	if err != nil {
		return nil, err
	}
	// The first tasks use the roles as soon as the service exists, and IAM
	// changes take a moment to apply: the task definition and the service
	// wait for the role policies, not only for the roles their ARNs name.
	afterPolicies := pulumi.DependsOn(roles.Policies)

	containers := containerDefinitions(cfg, spec, args.Services, image.ImageUri, logs.Name, args.Database, secrets,
		args.Messaging.env(spec), args.Telemetry)
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
		ExecutionRoleArn:     roles.Execution.Arn,
		TaskRoleArn:          roles.Task.Arn,
		ContainerDefinitions: containers,
		Volumes:              taskVolumes(cfg),
		Tags:                 tags,
	}, parent, afterPolicies)
	if err != nil {
		return nil, err
	}

	alarm, err := deploymentAlarm(ctx, spec.Name, args.LoadBalancer.ArnSuffix, args.TargetGroup.ArnSuffix, tags, parent)
	if err != nil {
		return nil, err
	}
	_, err = latencyAlarm(ctx, spec.Name, cfg, args.LoadBalancer.ArnSuffix, args.TargetGroup.ArnSuffix, tags, parent)
	if err != nil {
		return nil, err
	}

	// A service starts after the services it calls: Service Connect gives a
	// task only the endpoints that existed when it started, so orders
	// started before catalog could not resolve catalog until redeployed.
	// The capacity providers must exist, and a target group must be
	// attached to a listener before a service can register into it. Tasks
	// pull their image, read their secrets and ship their logs through the
	// NAT, so the way out must be complete before the first one starts.
	dependsOn := append([]pulumi.Resource{args.Cluster.CapacityProviders}, args.LoadBalancer.Listeners...)
	dependsOn = append(dependsOn, args.Egress...)
	dependsOn = append(dependsOn, roles.Policies...)
	for _, callee := range args.Calls {
		dependsOn = append(dependsOn, callee.ecs)
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
		// Tasks that pass their health checks but answer errors roll the
		// deployment back as well.
		Alarms: &ecs.ServiceAlarmsArgs{
			AlarmNames: pulumi.StringArray{alarm.Name},
			Enable:     pulumi.Bool(true),
			Rollback:   pulumi.Bool(true),
		},
		// terraform-provider-aws v5 replaces a service whose capacity
		// provider strategy changes (delete, then create: an outage)
		// unless force_new_deployment is set, in which case it updates the
		// service in place with a new deployment. The cost: every update
		// of the service starts a deployment, which task definition
		// changes do anyway.
		ForceNewDeployment:            pulumi.Bool(true),
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
		// `pulumi up` waits for the service to settle. Provider v5 also
		// calls a rolled-back deployment settled, so `make deploy` checks
		// what ECS really runs afterwards (infra/deploycheck).
		WaitForSteadyState: pulumi.Bool(true),
		Tags:               tags,
	}, serviceOptions(cfg, parent, pulumi.DependsOn(dependsOn))...)
	if err != nil {
		return nil, err
	}

	if cfg.ScalingTarget() {
		if err := autoscale(ctx, spec.Name, cfg, args.Cluster.Name, service.Name,
			args.LoadBalancer.ArnSuffix, args.TargetGroup.ArnSuffix, tags, parent); err != nil {
			return nil, err
		}
	}

	s.Name = service.Name
	s.RepositoryURL = repo.RepositoryUrl
	s.LogGroupName = logs.Name
	s.ImageURI = image.ImageUri
	s.TaskDefinitionArn = task.Arn
	s.TaskRoleArn = roles.Task.Arn
	s.ecs = service
	return s, ctx.RegisterResourceOutputs(s, pulumi.Map{
		"name":              s.Name,
		"repositoryUrl":     s.RepositoryURL,
		"logGroupName":      s.LogGroupName,
		"imageUri":          s.ImageURI,
		"taskDefinitionArn": s.TaskDefinitionArn,
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

// roleGrants are the resources a service's two roles may use.
type roleGrants struct {
	Repository, LogGroup pulumi.StringOutput
	// StartSecrets are resolved by ECS when a task starts (execution role).
	StartSecrets pulumi.StringArray
	// AppSecrets are read by the app itself while it runs (task role).
	AppSecrets pulumi.StringArray
	// MetricsLogGroup is the EMF log group the collector writes to (task
	// role); unset without telemetry.
	MetricsLogGroup pulumi.StringOutput
	// PublishTopics are the topics the app publishes to, ConsumeQueues
	// the queues it reads (task role).
	PublishTopics, ConsumeQueues pulumi.StringArray
	// TopicKey is the ARN of the topics' KMS key (with PublishTopics).
	TopicKey pulumi.StringOutput
}

// serviceRoles are a service's roles and the policies that give them their
// permissions.
type serviceRoles struct {
	Execution, Task *iam.Role
	Policies        []pulumi.Resource
}

// newRoles creates the execution role (used by ECS to pull the image, write
// logs and fetch the secrets it injects at start) and the task role (used by
// the app: its own runtime secrets, and ECS Exec when it is on).
func newRoles(ctx *pulumi.Context, name string, cfg Config, accountID string, tags pulumi.StringMap,
	grants roleGrants, parent pulumi.ResourceOrInvokeOption,
) (*serviceRoles, error) {
	roles := &serviceRoles{}
	// Both roles can be assumed only by this account's ECS tasks.
	newRole := func(suffix string, description pulumi.StringInput) (*iam.Role, error) {
		return iam.NewRole(ctx, name+suffix, &iam.RoleArgs{
			Description: description, AssumeRolePolicy: assumeRolePolicy("ecs-tasks.amazonaws.com", accountID), Tags: tags,
		}, parent)
	}
	grant := func(suffix string, role *iam.Role, statements []statement) error {
		policy, err := iam.NewRolePolicy(ctx, name+suffix, &iam.RolePolicyArgs{
			Role: role.Name, Policy: policyDocument(statements...),
		}, parent)
		if err != nil {
			return err
		}
		roles.Policies = append(roles.Policies, policy)
		return nil
	}

	exec, err := newRole("-execution", pulumi.Sprintf("ECS agent for %s: image, logs, start-up secrets", name))
	if err != nil {
		return nil, err
	}
	roles.Execution = exec
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
			Resources: pulumi.StringArray{grants.Repository},
		},
		{
			Sid:       "WriteOwnLogs",
			Actions:   []string{"logs:CreateLogStream", "logs:PutLogEvents"},
			Resources: pulumi.StringArray{pulumi.Sprintf("%s:*", grants.LogGroup)},
		},
	}
	if len(grants.StartSecrets) > 0 {
		statements = append(statements, statement{
			Sid:       "ReadOwnSecrets",
			Actions:   []string{"secretsmanager:GetSecretValue"},
			Resources: grants.StartSecrets,
		})
	}
	if err := grant("-execution", exec, statements); err != nil {
		return nil, err
	}

	task, err := newRole("-task", pulumi.Sprintf("Application role of %s", name))
	if err != nil {
		return nil, err
	}
	roles.Task = task
	var appStatements []statement
	if len(grants.AppSecrets) > 0 {
		appStatements = append(appStatements, statement{
			// Exactly the secrets named in the task's environment; the
			// RDS-managed secret uses the account's aws/secretsmanager key,
			// which needs no kms:Decrypt grant.
			Sid:       "ReadRuntimeSecrets",
			Actions:   []string{"secretsmanager:GetSecretValue"},
			Resources: grants.AppSecrets,
		})
	}
	if cfg.EnableExecuteCommand {
		// ECS Exec opens SSM channels. AWS documents these four actions
		// with Resource "*" (they take no resource ARN); they are named
		// one by one, never "ssmmessages:*".
		appStatements = append(appStatements, statement{
			Sid: "EcsExecChannels",
			Actions: []string{
				"ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
				"ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel",
			},
			Resources: pulumi.StringArray{pulumi.String("*")},
		})
	}
	if cfg.Telemetered() {
		appStatements = append(appStatements, telemetryStatements(grants.MetricsLogGroup)...)
	}
	appStatements = append(appStatements, eventStatements(cfg.Region, grants.TopicKey, grants.PublishTopics, grants.ConsumeQueues)...)
	if len(appStatements) > 0 {
		if err := grant("-task", task, appStatements); err != nil {
			return nil, err
		}
	}
	return roles, nil
}

// deploymentAlarm watches the 5xx answers of a service's targets. ECS reads it
// during each deployment (the service's alarms block) and rolls back when it
// fires. Missing data is no traffic, not a failure.
func deploymentAlarm(ctx *pulumi.Context, name string, albSuffix, targetGroupSuffix pulumi.StringOutput,
	tags pulumi.StringMap, parent pulumi.ResourceOrInvokeOption,
) (*cloudwatch.MetricAlarm, error) {
	return cloudwatch.NewMetricAlarm(ctx, name+"-5xx", &cloudwatch.MetricAlarmArgs{
		AlarmDescription: pulumi.Sprintf("%s: targets answer 5xx; ECS rolls back a deployment while this is in ALARM", name),
		Namespace:        pulumi.String("AWS/ApplicationELB"),
		MetricName:       pulumi.String("HTTPCode_Target_5XX_Count"),
		Dimensions: pulumi.StringMap{
			"LoadBalancer": albSuffix,
			"TargetGroup":  targetGroupSuffix,
		},
		Statistic:          pulumi.String("Sum"),
		Period:             pulumi.Int(60),
		EvaluationPeriods:  pulumi.Int(deployAlarmMinutes),
		DatapointsToAlarm:  pulumi.Int(deployAlarmMinutes),
		Threshold:          pulumi.Float64(deployAlarm5xxPerMinute),
		ComparisonOperator: pulumi.String("GreaterThanOrEqualToThreshold"),
		TreatMissingData:   pulumi.String("notBreaching"),
		Tags:               tags,
	}, parent)
}

// telemetryStatements are what the collector in the task needs, on the task
// role, and nothing more:
//
//   - awsxray calls only PutTraceSegments ("AWS X-Ray Tracing Exporter",
//     collector-contrib); PutTelemetryRecords is for its telemetry.enabled
//     option, off by default and here, and the sampling rule actions
//     serve X-Ray's own samplers, which the apps do not use (they sample
//     by ratio). X-Ray defines no resource for PutTraceSegments ("How AWS
//     X-Ray works with IAM": no resource-level permissions), hence "*".
//   - awsemf writes with CreateLogStream and PutLogEvents into its own log
//     group, which the program creates (newTelemetry): no CreateLogGroup.
func telemetryStatements(metricsLogGroup pulumi.StringOutput) []statement {
	return []statement{
		{
			Sid:       "SendTraces",
			Actions:   []string{"xray:PutTraceSegments"},
			Resources: pulumi.StringArray{pulumi.String("*")},
		},
		{
			Sid:       "WriteMetricsLog",
			Actions:   []string{"logs:CreateLogStream", "logs:PutLogEvents"},
			Resources: pulumi.StringArray{pulumi.Sprintf("%s:*", metricsLogGroup)},
		},
	}
}

// latencyAlarm fires when a service's targets answer slowly: the p99 of the
// ALB's TargetResponseTime over p99LatencyAlarmMs in 3 of 5 minutes. It is
// for people (no action is attached yet: an SNS topic would page); it does
// not roll deployments back, since a new task's first requests are slower
// and that is no reason to undo a release. Missing data is no traffic.
func latencyAlarm(ctx *pulumi.Context, name string, cfg Config, albSuffix, targetGroupSuffix pulumi.StringOutput,
	tags pulumi.StringMap, parent pulumi.ResourceOrInvokeOption,
) (*cloudwatch.MetricAlarm, error) {
	return cloudwatch.NewMetricAlarm(ctx, name+"-p99", &cloudwatch.MetricAlarmArgs{
		AlarmDescription: pulumi.Sprintf("%s: p99 response time of its targets above %d ms", name, cfg.P99LatencyAlarmMs),
		Namespace:        pulumi.String("AWS/ApplicationELB"),
		MetricName:       pulumi.String("TargetResponseTime"),
		Dimensions: pulumi.StringMap{
			"LoadBalancer": albSuffix,
			"TargetGroup":  targetGroupSuffix,
		},
		ExtendedStatistic:  pulumi.String("p99"),
		Period:             pulumi.Int(60),
		EvaluationPeriods:  pulumi.Int(latencyAlarmMinutes),
		DatapointsToAlarm:  pulumi.Int(latencyAlarmBreaching),
		Threshold:          pulumi.Float64(float64(cfg.P99LatencyAlarmMs) / 1000), // TargetResponseTime is in seconds
		ComparisonOperator: pulumi.String("GreaterThanThreshold"),
		TreatMissingData:   pulumi.String("notBreaching"),
		Tags:               tags,
	}, parent)
}

// The latency alarm looks at five minutes and fires on three slow ones.
const (
	latencyAlarmMinutes   = 5
	latencyAlarmBreaching = 3
)

// serviceOptions adds, where Application Auto Scaling owns the running count
// after the first deploy (autoscaling, or the active hours' schedule), that
// up leaves desiredCount alone: a deploy at night must not start the tasks
// the schedule stopped. Otherwise the stack's minTasks is the count.
func serviceOptions(cfg Config, opts ...pulumi.ResourceOption) []pulumi.ResourceOption {
	if cfg.ScalingTarget() {
		opts = append(opts, pulumi.IgnoreChanges([]string{"desiredCount"}))
	}
	return opts
}

// autoscale registers the service's scalable target. With room to scale it
// keeps between minTasks and maxTasks running, scaling on whichever of CPU
// and requests per task asks for more; with active hours it stops the
// service outside them.
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
	if cfg.Active != nil {
		if err := scheduleActions(ctx, name, cfg, target, parent); err != nil {
			return err
		}
	}
	if !cfg.Autoscales() {
		return nil
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
