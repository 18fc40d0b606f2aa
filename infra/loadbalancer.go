package main

import (
	"fmt"

	"github.com/fargateshop/shop/platform/routing"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ec2"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/elb"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/lb"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/s3"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/vpc"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Target group timings. Two passing checks five seconds apart bring a new task
// into service in about ten seconds.
//
// When ECS stops a service's task it first deregisters it and waits until the
// target has drained, at most the deregistration delay, and only then sends
// SIGTERM ("Amazon ECS task lifecycle": DEACTIVATING, then STOPPING). The
// delay is thus how long requests in flight through the ALB may still take,
// and it is added to every task replacement; the app's own drain
// (server.StopTimeout) comes after it. Fargate Spot sends SIGTERM with its
// two-minute warning and may deregister the task only once it has stopped,
// so its target groups need a delay under two minutes ("How do I handle Spot
// termination notices in AWS Fargate Spot tasks?", AWS Knowledge Center).
const (
	healthCheckInterval    = 5
	healthCheckTimeout     = 3
	healthyThreshold       = 2
	unhealthyThreshold     = 2
	deregistrationDelaySec = 10
)

// accessLogPrefix is where the ALB writes inside the log bucket.
const accessLogPrefix = "alb"

// LoadBalancer is the public entry point: one ALB, its listeners, one target
// group per declared service and one listener rule per declared path.
type LoadBalancer struct {
	pulumi.ResourceState

	SecurityGroupID pulumi.IDOutput
	ArnSuffix       pulumi.StringOutput
	URL             pulumi.StringOutput
	// TargetGroups maps a service name to its target group.
	TargetGroups map[string]*lb.TargetGroup
	// Listeners are the listeners and their rules: a target group must be
	// attached to a listener before an ECS service can register into it.
	Listeners []pulumi.Resource
}

type loadBalancerArgs struct {
	Config          Config
	Services        []routing.Service
	AccountID       string
	VpcID           pulumi.StringOutput
	PublicSubnetIDs pulumi.StringArrayOutput
}

func newLoadBalancer(ctx *pulumi.Context, name string, args loadBalancerArgs, opts ...pulumi.ResourceOption) (*LoadBalancer, error) {
	l := &LoadBalancer{TargetGroups: map[string]*lb.TargetGroup{}}
	if err := ctx.RegisterComponentResource("shop:loadbalancer:LoadBalancer", name, l, opts...); err != nil {
		return nil, err
	}
	cfg := args.Config
	parent := pulumi.Parent(l)

	// deploy has validated the declaration (routing.Validate): there is
	// exactly one default service and every rule fits the ALB.
	def, _ := routing.DefaultService(args.Services)

	logs, err := newAccessLogBucket(ctx, name, cfg, args.AccountID, parent)
	if err != nil {
		return nil, err
	}

	sg, err := ec2.NewSecurityGroup(ctx, name, &ec2.SecurityGroupArgs{
		VpcId:       args.VpcID,
		Description: pulumi.String("Public ALB: HTTP(S) in from anywhere, out only to service tasks"),
	}, parent)
	if err != nil {
		return nil, err
	}
	// EC2.18/EC2.19: the only unrestricted inbound ports are the ones a
	// listener answers on. Egress is added per service by the firewall.
	openPorts := []int{80}
	if cfg.HTTPS() {
		openPorts = append(openPorts, 443)
	}
	for _, port := range openPorts {
		if _, err := vpc.NewSecurityGroupIngressRule(ctx, fmt.Sprintf("%s-in-%d", name, port), &vpc.SecurityGroupIngressRuleArgs{
			SecurityGroupId: sg.ID(),
			Description:     pulumi.Sprintf("HTTP(S) from the internet on %d", port),
			IpProtocol:      pulumi.String("tcp"),
			FromPort:        pulumi.Int(port),
			ToPort:          pulumi.Int(port),
			CidrIpv4:        pulumi.String("0.0.0.0/0"),
		}, parent); err != nil {
			return nil, err
		}
	}

	alb, err := lb.NewLoadBalancer(ctx, name, &lb.LoadBalancerArgs{
		LoadBalancerType:         pulumi.String("application"),
		Internal:                 pulumi.Bool(false),
		SecurityGroups:           pulumi.StringArray{sg.ID()},
		Subnets:                  args.PublicSubnetIDs,                    // ELB.13: one per zone, at least two
		DropInvalidHeaderFields:  pulumi.Bool(true),                       // ELB.4
		DesyncMitigationMode:     pulumi.String(cfg.DesyncMitigationMode), // ELB.12
		EnableDeletionProtection: pulumi.Bool(cfg.AlbDeletionProtection),  // ELB.6
		AccessLogs: &lb.LoadBalancerAccessLogsArgs{ // ELB.5
			Bucket:  logs.Bucket,
			Prefix:  pulumi.String(accessLogPrefix),
			Enabled: pulumi.Bool(true),
		},
		EnableHttp2: pulumi.Bool(true),
		IdleTimeout: pulumi.Int(60),
	}, parent, pulumi.DependsOn([]pulumi.Resource{logs.policy}))
	if err != nil {
		return nil, err
	}

	for _, svc := range args.Services {
		tg, err := lb.NewTargetGroup(ctx, svc.Name, &lb.TargetGroupArgs{
			VpcId:               args.VpcID,
			TargetType:          pulumi.String("ip"), // awsvpc tasks register by IP
			Port:                pulumi.Int(svc.Port),
			Protocol:            pulumi.String("HTTP"),
			DeregistrationDelay: pulumi.Int(deregistrationDelaySec),
			HealthCheck: &lb.TargetGroupHealthCheckArgs{
				Enabled:            pulumi.Bool(true),
				Path:               pulumi.String(routing.HealthPath),
				Protocol:           pulumi.String("HTTP"),
				Matcher:            pulumi.String("200"),
				Interval:           pulumi.Int(healthCheckInterval),
				Timeout:            pulumi.Int(healthCheckTimeout),
				HealthyThreshold:   pulumi.Int(healthyThreshold),
				UnhealthyThreshold: pulumi.Int(unhealthyThreshold),
			},
			Tags: serviceTags(svc.Name),
		}, parent)
		if err != nil {
			return nil, err
		}
		l.TargetGroups[svc.Name] = tg
	}

	forwardToDefault := lb.ListenerDefaultActionArray{&lb.ListenerDefaultActionArgs{
		Type:           pulumi.String("forward"),
		TargetGroupArn: l.TargetGroups[def.Name].Arn,
	}}
	// Port 80 forwards, or with HTTPS only ever answers with a redirect (ELB.1).
	scheme, httpActions := "http", forwardToDefault
	if cfg.HTTPS() {
		scheme = "https"
		httpActions = lb.ListenerDefaultActionArray{&lb.ListenerDefaultActionArgs{
			Type: pulumi.String("redirect"),
			Redirect: &lb.ListenerDefaultActionRedirectArgs{
				Protocol:   pulumi.String("HTTPS"),
				Port:       pulumi.String("443"),
				StatusCode: pulumi.String("HTTP_301"),
			},
		}}
	}
	plain, err := lb.NewListener(ctx, name+"-http", &lb.ListenerArgs{
		LoadBalancerArn: alb.Arn,
		Port:            pulumi.Int(80),
		Protocol:        pulumi.String("HTTP"),
		DefaultActions:  httpActions,
	}, parent)
	if err != nil {
		return nil, err
	}
	l.Listeners = append(l.Listeners, plain)
	// The rules go on the listener that forwards.
	routes := plain
	if cfg.HTTPS() {
		routes, err = lb.NewListener(ctx, name+"-https", &lb.ListenerArgs{
			LoadBalancerArn: alb.Arn,
			Port:            pulumi.Int(443),
			Protocol:        pulumi.String("HTTPS"),
			SslPolicy:       pulumi.String(cfg.SslPolicy),
			CertificateArn:  pulumi.String(cfg.CertificateArn),
			DefaultActions:  forwardToDefault,
			RoutingHttpResponseStrictTransportSecurityHeaderValue: pulumi.String("max-age=31536000; includeSubDomains"),
		}, parent)
		if err != nil {
			return nil, err
		}
		l.Listeners = append(l.Listeners, routes)
	}

	// Defense in depth: routing.Validate already keeps declared paths off
	// /internal, and this rule, evaluated first, makes sure the default
	// service does not receive those requests either.
	block, err := lb.NewListenerRule(ctx, name+"-block-internal", &lb.ListenerRuleArgs{
		ListenerArn: routes.Arn,
		Priority:    pulumi.Int(routing.InternalBlockPriority),
		Conditions: lb.ListenerRuleConditionArray{&lb.ListenerRuleConditionArgs{
			PathPattern: &lb.ListenerRuleConditionPathPatternArgs{Values: pulumi.StringArray{
				pulumi.String(routing.InternalPrefix), pulumi.String(routing.InternalPrefix + "/*"),
			}},
		}},
		Actions: lb.ListenerRuleActionArray{&lb.ListenerRuleActionArgs{
			Type: pulumi.String("fixed-response"),
			FixedResponse: &lb.ListenerRuleActionFixedResponseArgs{
				ContentType: pulumi.String("text/plain"),
				MessageBody: pulumi.String("not found\n"),
				StatusCode:  pulumi.String("404"),
			},
		}},
	}, parent)
	if err != nil {
		return nil, err
	}
	l.Listeners = append(l.Listeners, block)

	// One rule per declared path, priorities straight from the declaration.
	for _, r := range routing.Rules(args.Services) {
		rule, err := lb.NewListenerRule(ctx, fmt.Sprintf("%s-%d", r.Service, r.Priority), &lb.ListenerRuleArgs{
			ListenerArn: routes.Arn,
			Priority:    pulumi.Int(r.Priority),
			Conditions: lb.ListenerRuleConditionArray{&lb.ListenerRuleConditionArgs{
				PathPattern: &lb.ListenerRuleConditionPathPatternArgs{Values: pulumi.StringArray{pulumi.String(r.Pattern)}},
			}},
			Actions: lb.ListenerRuleActionArray{&lb.ListenerRuleActionArgs{
				Type:           pulumi.String("forward"),
				TargetGroupArn: l.TargetGroups[r.Service].Arn,
			}},
			Tags: serviceTags(r.Service),
		}, parent)
		if err != nil {
			return nil, err
		}
		l.Listeners = append(l.Listeners, rule)
	}

	l.SecurityGroupID = sg.ID()
	l.ArnSuffix = alb.ArnSuffix
	l.URL = pulumi.Sprintf("%s://%s", scheme, alb.DnsName)
	return l, ctx.RegisterResourceOutputs(l, pulumi.Map{
		"url":       l.URL,
		"arnSuffix": l.ArnSuffix,
	})
}

// accessLogBucket holds the ALB access logs (ELB.5).
type accessLogBucket struct {
	Bucket pulumi.StringOutput
	policy pulumi.Resource
}

// newAccessLogBucket creates an encrypted, private bucket whose objects expire,
// writable only by the ELB log delivery for this account's prefix.
func newAccessLogBucket(ctx *pulumi.Context, name string, cfg Config, accountID string,
	parent pulumi.ResourceOrInvokeOption,
) (*accessLogBucket, error) {
	bucket, err := s3.NewBucketV2(ctx, name+"-logs", &s3.BucketV2Args{
		ForceDestroy: pulumi.Bool(cfg.ForceDestroy),
	}, parent)
	if err != nil {
		return nil, err
	}
	if _, err := s3.NewBucketOwnershipControls(ctx, name+"-logs", &s3.BucketOwnershipControlsArgs{
		Bucket: bucket.ID(),
		Rule:   &s3.BucketOwnershipControlsRuleArgs{ObjectOwnership: pulumi.String("BucketOwnerEnforced")},
	}, parent); err != nil {
		return nil, err
	}
	block, err := s3.NewBucketPublicAccessBlock(ctx, name+"-logs", &s3.BucketPublicAccessBlockArgs{
		Bucket:                bucket.ID(),
		BlockPublicAcls:       pulumi.Bool(true),
		BlockPublicPolicy:     pulumi.Bool(true),
		IgnorePublicAcls:      pulumi.Bool(true),
		RestrictPublicBuckets: pulumi.Bool(true),
	}, parent)
	if err != nil {
		return nil, err
	}
	// ALB log delivery supports only SSE-S3, not KMS keys.
	if _, err := s3.NewBucketServerSideEncryptionConfigurationV2(ctx, name+"-logs", &s3.BucketServerSideEncryptionConfigurationV2Args{
		Bucket: bucket.ID(),
		Rules: s3.BucketServerSideEncryptionConfigurationV2RuleArray{&s3.BucketServerSideEncryptionConfigurationV2RuleArgs{
			ApplyServerSideEncryptionByDefault: &s3.BucketServerSideEncryptionConfigurationV2RuleApplyServerSideEncryptionByDefaultArgs{
				SseAlgorithm: pulumi.String("AES256"),
			},
		}},
	}, parent); err != nil {
		return nil, err
	}
	if _, err := s3.NewBucketLifecycleConfigurationV2(ctx, name+"-logs", &s3.BucketLifecycleConfigurationV2Args{
		Bucket: bucket.ID(),
		Rules: s3.BucketLifecycleConfigurationV2RuleArray{&s3.BucketLifecycleConfigurationV2RuleArgs{
			Id:     pulumi.String("expire-access-logs"),
			Status: pulumi.String("Enabled"),
			Filter: &s3.BucketLifecycleConfigurationV2RuleFilterArgs{Prefix: pulumi.String("")},
			Expiration: &s3.BucketLifecycleConfigurationV2RuleExpirationArgs{
				Days: pulumi.Int(cfg.AccessLogExpirationDays),
			},
			AbortIncompleteMultipartUpload: &s3.BucketLifecycleConfigurationV2RuleAbortIncompleteMultipartUploadArgs{
				DaysAfterInitiation: pulumi.Int(1),
			},
		}},
	}, parent); err != nil {
		return nil, err
	}

	// Regions that predate August 2022 deliver logs from a regional ELB
	// account; newer ones from the log delivery service. Allowing both keeps
	// the policy right in every region.
	elbAccount, err := elb.GetServiceAccount(ctx, &elb.GetServiceAccountArgs{}, parent)
	if err != nil {
		return nil, err
	}
	logObjects := pulumi.Sprintf("%s/%s/AWSLogs/%s/*", bucket.Arn, accessLogPrefix, accountID)
	policy, err := s3.NewBucketPolicy(ctx, name+"-logs", &s3.BucketPolicyArgs{
		Bucket: bucket.ID(),
		Policy: policyDocument(
			statement{
				Sid:        "ElbLogDeliveryAccount",
				Principals: pulumi.StringArrayMap{"AWS": pulumi.ToStringArray([]string{elbAccount.Arn})},
				Actions:    []string{"s3:PutObject"},
				Resources:  pulumi.StringArray{logObjects},
			},
			statement{
				Sid:        "ElbLogDeliveryService",
				Principals: pulumi.StringArrayMap{"Service": pulumi.ToStringArray([]string{"logdelivery.elasticloadbalancing.amazonaws.com"})},
				Actions:    []string{"s3:PutObject"},
				Resources:  pulumi.StringArray{logObjects},
			},
			statement{
				// S3.5: nobody reads or writes the logs over plain HTTP.
				Sid:        "DenyInsecureTransport",
				Deny:       true,
				Principals: anyone,
				Actions:    []string{"s3:*"},
				Resources:  pulumi.StringArray{bucket.Arn, pulumi.Sprintf("%s/*", bucket.Arn)},
				Conditions: denyInsecureTransport,
			},
		),
	}, parent, pulumi.DependsOn([]pulumi.Resource{block}))
	if err != nil {
		return nil, err
	}
	return &accessLogBucket{Bucket: bucket.Bucket, policy: policy}, nil
}
