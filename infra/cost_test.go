package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// component returns the URN of one of the program's components, the parent
// of the resources it registers.
func component(typ, name string) string { return "urn:pulumi:dev::shop::" + typ + "::" + name }

var (
	networkURN  = component("shop:network:Network", "network")
	lbURN       = component("shop:loadbalancer:LoadBalancer", "loadbalancer")
	clusterURN  = component("shop:cluster:Cluster", "cluster")
	databaseURN = component("shop:database:Database", "database")
	catalogURN  = component("shop:service:Service", "catalog")
	tokenURN    = component("shop:secrets:AdminToken", "admin-token")
)

// Hand-made resources with the inputs the program sets (see network.go,
// loadbalancer.go, service.go, database.go), numbers as the engine carries
// them.

func awsxVpc(strategy string, zones ...string) recorded {
	return recorded{Type: "awsx:ec2:Vpc", Name: "network", Parent: networkURN, Inputs: map[string]any{
		"availabilityZoneNames": toAny(zones),
		"natGateways":           map[string]any{"strategy": strategy},
	}}
}

func taskDef(name, cpu, memory, arch string) recorded {
	return recorded{Type: "aws:ecs/taskDefinition:TaskDefinition", Name: name, Parent: catalogURN,
		Inputs: map[string]any{
			"family": "shop-dev-" + name, "cpu": cpu, "memory": memory,
			"runtimePlatform": map[string]any{"operatingSystemFamily": "LINUX", "cpuArchitecture": arch},
		},
		Outputs: map[string]any{"arn": "arn:aws:ecs:us-east-1:123456789012:ecs/" + name + "-td"},
	}
}

// share is one capacity provider strategy entry.
func share(provider string, base, weight float64) any {
	return map[string]any{"capacityProvider": provider, "base": base, "weight": weight}
}

func ecsService(name string, desired float64, strategy ...any) recorded {
	return recorded{Type: "aws:ecs/service:Service", Name: name, Parent: catalogURN, Inputs: map[string]any{
		"name":                       name,
		"cluster":                    "arn:aws:ecs:us-east-1:123456789012:ecs/cluster",
		"taskDefinition":             "arn:aws:ecs:us-east-1:123456789012:ecs/" + name + "-td",
		"desiredCount":               desired,
		"capacityProviderStrategies": strategy,
		"networkConfiguration":       map[string]any{"assignPublicIp": false},
	}}
}

func scalingTarget(service string, max float64) recorded {
	return recorded{Type: "aws:appautoscaling/target:Target", Name: service, Parent: catalogURN, Inputs: map[string]any{
		"serviceNamespace": "ecs", "scalableDimension": "ecs:service:DesiredCount",
		"resourceId": "service/cluster-848f680/" + service, "minCapacity": 1.0, "maxCapacity": max,
	}}
}

// scheduledAction is an action that sets the service's capacity to
// min..max on a schedule.
func scheduledAction(service, suffix, schedule, timezone string, min, max float64) recorded {
	return recorded{Type: "aws:appautoscaling/scheduledAction:ScheduledAction", Name: service + "-" + suffix, Parent: catalogURN, Inputs: map[string]any{
		"serviceNamespace": "ecs", "scalableDimension": "ecs:service:DesiredCount",
		"resourceId": "service/cluster-848f680/" + service, "schedule": schedule, "timezone": timezone,
		"scalableTargetAction": map[string]any{"minCapacity": min, "maxCapacity": max},
	}}
}

func rdsInstance(class string, multiAZ bool, storage float64) recorded {
	return recorded{Type: "aws:rds/instance:Instance", Name: "database", Parent: databaseURN, Inputs: map[string]any{
		"engine": "postgres", "instanceClass": class, "allocatedStorage": storage, "storageType": "gp3",
		"multiAz": multiAZ, "manageMasterUserPassword": true,
	}}
}

func estimateOf(t *testing.T, usage map[string]assumption, resources ...recorded) costEstimate {
	t.Helper()
	prices, err := loadPrices("us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	if usage == nil {
		usage = defaultAssumptions()
	}
	est, err := estimateCost(&stack{resources: resources}, prices, usage)
	if err != nil {
		t.Fatalf("estimate: %v", err)
	}
	return est
}

// wantLine is a hand-computed line: the item it must appear under, its
// arithmetic (exact when given) and its amount.
type wantLine struct {
	component, item, arithmetic string
	monthly                     float64
}

func checkLines(t *testing.T, est costEstimate, want []wantLine) {
	t.Helper()
	for _, w := range want {
		var found []costLine
		for _, l := range est.Lines {
			if l.Component == w.component && l.Item == w.item {
				found = append(found, l)
			}
		}
		if len(found) != 1 {
			t.Errorf("%s / %s: got %d lines, want 1; lines:\n%s", w.component, w.item, len(found), dump(est))
			continue
		}
		if got := cents(found[0].Monthly); got != w.monthly {
			t.Errorf("%s / %s: got %.2f, want %.2f (%s)", w.component, w.item, got, w.monthly, found[0].Arithmetic)
		}
		if w.arithmetic != "" && found[0].Arithmetic != w.arithmetic {
			t.Errorf("%s / %s: arithmetic\n got %q\nwant %q", w.component, w.item, found[0].Arithmetic, w.arithmetic)
		}
	}
}

func dump(est costEstimate) string {
	var b strings.Builder
	for _, l := range est.Lines {
		fmt.Fprintf(&b, "  %-16s %-45s %8.2f  %s\n", l.Component, l.Item, l.Monthly, l.Arithmetic)
	}
	fmt.Fprintf(&b, "  total %.2f, ceiling %.2f\n", est.Total, est.Ceiling)
	return b.String()
}

func TestCostLinesAgainstHandComputedValues(t *testing.T) {
	tests := []struct {
		name      string
		usage     map[string]string // assumption overrides
		resources []recorded
		want      []wantLine
		// ceilingExtra is Ceiling - Total.
		ceilingExtra float64
	}{
		{
			name:      "one NAT gateway for 730 h",
			resources: []recorded{awsxVpc("Single", "us-east-1a", "us-east-1b")},
			want: []wantLine{
				{"network", "NAT gateway hours", "0.045 USD/hour x 1 NAT gateway (awsx strategy Single, 2 zones) x 730 h = 32.85", 32.85},
				{"network", "NAT gateway public IPv4", "0.005 USD/address-hour x 1 Elastic IP (one per NAT gateway) x 730 h = 3.65", 3.65},
				{"network", "NAT gateway data processed", "0.045 USD/GB x 10 GB/month (natGB, all gateways) = 0.45", 0.45},
				// The second zone's half of natGB crosses to the gateway and back.
				{"network", "Cross-zone traffic to NAT", "0.01 USD/GB x 2 (out of one zone, into the other) x 10 GB/month (natGB) x 1/2 zones without NAT = 0.10", 0.10},
			},
		},
		{
			name:      "one NAT gateway per zone, three zones",
			usage:     map[string]string{"natGB": "100"},
			resources: []recorded{awsxVpc("OnePerAz", "us-east-1a", "us-east-1b", "us-east-1c")},
			want: []wantLine{
				{"network", "NAT gateway hours", "", 98.55},       // 0.045 x 3 x 730
				{"network", "NAT gateway public IPv4", "", 10.95}, // 0.005 x 3 x 730
				{"network", "NAT gateway data processed", "", 4.50},
			},
		},
		{
			// One NAT instance for three zones: two thirds of natGB cross
			// zones, 0.01 x 2 x 30 x 2/3 = 0.40.
			name:  "a NAT instance for three zones",
			usage: map[string]string{"natGB": "30"},
			resources: []recorded{awsxVpc("None", "us-east-1a", "us-east-1b", "us-east-1c"),
				{Type: "aws:ec2/instance:Instance", Name: "network-nat", Parent: networkURN, Inputs: map[string]any{
					"instanceType": "t4g.nano", "sourceDestCheck": false,
					"rootBlockDevice": map[string]any{"volumeType": "gp3", "volumeSize": 8.0},
				}}},
			want: []wantLine{
				{"network", "EC2 t4g.nano", "0.0042 USD/hour x 1 instance x 730 h = 3.07", 3.07},
				{"network", "EBS gp3", "", 0.64},
				{"network", "Cross-zone traffic to NAT", "", 0.40},
			},
		},
		{
			name:      "no NAT gateway: no NAT line and no natGB",
			resources: []recorded{awsxVpc("None", "us-east-1a", "us-east-1b")},
			want:      nil,
		},
		{
			name: "x86 task, 0.25 vCPU / 0.5 GB, on-demand, scaling to 4",
			resources: []recorded{
				taskDef("catalog", "256", "512", "X86_64"),
				ecsService("catalog", 1, share("FARGATE", 0, 1)),
				scalingTarget("catalog", 4),
			},
			want: []wantLine{{"service:catalog", "Fargate X86_64 tasks, on-demand",
				"(0.25 vCPU x 0.04048 + 0.5 GB x 0.004445) USD/hour x 1 task x 730 h = 9.01 (1 of 1 task: 1 more by weight FARGATE 1)", 9.01}},
			// (0.25 x 0.04048 + 0.5 x 0.004445) x 730 = 9.010025 per task; 3 more tasks at the maximum.
			ceilingExtra: 27.03,
		},
		{
			// 5 x 13 h a week x 730/168 weeks = 282.44 h; (0.25 x 0.04048 +
			// 0.5 x 0.004445) x 282.4405 = 3.4860 per task, 13.9441 for
			// four: the ceiling is 13.94 - 3.49.
			name: "x86 task in working hours, scaling to 4 in them",
			resources: []recorded{
				taskDef("catalog", "256", "512", "X86_64"),
				ecsService("catalog", 1, share("FARGATE", 0, 1)),
				scalingTarget("catalog", 4),
				scheduledAction("catalog", "stop", "cron(0 20 ? * MON,TUE,WED,THU,FRI *)", "Europe/Lisbon", 0, 0),
				scheduledAction("catalog", "start", "cron(0 7 ? * MON,TUE,WED,THU,FRI *)", "Europe/Lisbon", 1, 4),
			},
			want: []wantLine{{"service:catalog", "Fargate X86_64 tasks, on-demand",
				"(0.25 vCPU x 0.04048 + 0.5 GB x 0.004445) USD/hour x 1 task x 282.44 h (5 days x 13 h x 730/168 weeks, Europe/Lisbon schedule) = 3.49 (1 of 1 task: 1 more by weight FARGATE 1)", 3.49}},
			ceilingExtra: 10.45,
		},
		{
			// Saturday 08:00 to Sunday 20:00, across midnight: 16 h + 20 h
			// a week, 36 x 730/168 = 156.43 h a month; (0.25 x 0.03238 +
			// 0.5 x 0.00356) x 156.4286 = 1.5447. The schedule's range form and the API's default
			// time zone are read too.
			name: "ARM64 task over the weekend, days of different lengths",
			resources: []recorded{
				taskDef("catalog", "256", "512", "ARM64"),
				ecsService("catalog", 1, share("FARGATE", 0, 1)),
				scalingTarget("catalog", 1),
				scheduledAction("catalog", "start", "cron(0 8 ? * SAT *)", "", 1, 1),
				scheduledAction("catalog", "stop", "cron(0 20 ? * SUN-SUN *)", "", 0, 0),
			},
			want: []wantLine{{"service:catalog", "Fargate ARM64 tasks, on-demand",
				"(0.25 vCPU x 0.03238 + 0.5 GB x 0.00356) USD/hour x 1 task x 156.43 h (36 h a week x 730/168 weeks, UTC schedule) = 1.54 (1 of 1 task: 1 more by weight FARGATE 1)", 1.54}},
		},
		{
			name: "ARM64 task",
			resources: []recorded{
				taskDef("catalog", "256", "512", "ARM64"),
				ecsService("catalog", 1, share("FARGATE", 0, 1)),
			},
			// (0.25 x 0.03238 + 0.5 x 0.00356) x 730 = 7.20875
			want: []wantLine{{"service:catalog", "Fargate ARM64 tasks, on-demand", "", 7.21}},
		},
		{
			name: "Spot with the discount: base 1 on demand, the rest split 1:1",
			resources: []recorded{
				taskDef("catalog", "256", "512", "X86_64"),
				ecsService("catalog", 3, share("FARGATE", 1, 1), share("FARGATE_SPOT", 0, 1)),
			},
			want: []wantLine{
				{"service:catalog", "Fargate X86_64 tasks, on-demand",
					"(0.25 vCPU x 0.04048 + 0.5 GB x 0.004445) USD/hour x 2 tasks x 730 h = 18.02 (2 of 3 tasks: base 1 on FARGATE, 2 more by weight FARGATE 1 : FARGATE_SPOT 1)", 18.02},
				// 0.0123425 x (1 - 0.5) x 730 = 4.5050125
				{"service:catalog", "Fargate X86_64 tasks, Spot",
					"(0.25 vCPU x 0.04048 + 0.5 GB x 0.004445) USD/hour x (1 - 0.5 fargateSpotDiscount) x 1 task x 730 h = 4.51 (1 of 3 tasks: base 1 on FARGATE, 2 more by weight FARGATE 1 : FARGATE_SPOT 1)", 4.51},
			},
		},
		{
			name:  "Spot at a 70% discount",
			usage: map[string]string{"fargateSpotDiscount": "0.7"},
			resources: []recorded{
				taskDef("catalog", "512", "1024", "ARM64"),
				ecsService("catalog", 1, share("FARGATE_SPOT", 0, 1)),
			},
			// (0.5 x 0.03238 + 1 x 0.00356) x 0.3 x 730 = 4.325205
			want: []wantLine{{"service:catalog", "Fargate ARM64 tasks, Spot", "", 4.33}},
		},
		{
			name:      "single-AZ RDS",
			resources: []recorded{rdsInstance("db.t4g.micro", false, 20)},
			want: []wantLine{
				{"database", "RDS db.t4g.micro", "0.016 USD/hour x 1 instance (Single-AZ) x 730 h = 11.68", 11.68},
				{"database", "RDS storage gp3", "0.115 USD/GB-month x 20 GB x 1 (Single-AZ) = 2.30", 2.30},
				{"database", "RDS-managed master secret", "0.4 USD/secret-month x 1 secret (manageMasterUserPassword) = 0.40", 0.40},
			},
		},
		{
			name:      "Multi-AZ RDS doubles instance and storage",
			resources: []recorded{rdsInstance("db.m7g.large", true, 50)},
			want: []wantLine{
				{"database", "RDS db.m7g.large", "0.168 USD/hour x 2 instances (Multi-AZ: primary + standby) x 730 h = 245.28", 245.28},
				{"database", "RDS storage gp3", "0.115 USD/GB-month x 50 GB x 2 (Multi-AZ: primary + standby) = 11.50", 11.50},
			},
		},
		{
			name: "internet-facing ALB: hours, LCUs, one public IPv4 per subnet",
			resources: []recorded{{Type: "aws:lb/loadBalancer:LoadBalancer", Name: "loadbalancer", Parent: lbURN, Inputs: map[string]any{
				"loadBalancerType": "application", "internal": false,
				"subnets": []any{"subnet-public-us-east-1a", "subnet-public-us-east-1b"},
			}}},
			want: []wantLine{
				{"loadbalancer", "ALB hours", "0.0225 USD/hour x 1 load balancer x 730 h = 16.43", 16.43},
				{"loadbalancer", "ALB capacity units", "0.008 USD/LCU-hour x 0.1 LCU (albLcu) x 730 h = 0.58", 0.58},
				{"loadbalancer", "ALB public IPv4", "0.005 USD/address-hour x 2 addresses (one per subnet) x 730 h = 7.30", 7.30},
			},
		},
		{
			name: "NAT instance: t4g.nano, 8 GiB gp3, public IPv4",
			resources: []recorded{{Type: "aws:ec2/instance:Instance", Name: "network-nat", Parent: networkURN, Inputs: map[string]any{
				"instanceType": "t4g.nano", "associatePublicIpAddress": true, "sourceDestCheck": false,
				"rootBlockDevice": map[string]any{"volumeSize": 8.0, "volumeType": "gp3"},
			}}},
			want: []wantLine{
				{"network", "EC2 t4g.nano", "0.0042 USD/hour x 1 instance x 730 h = 3.07", 3.07},
				{"network", "EBS gp3", "0.08 USD/GB-month x 8 GB (root volume) = 0.64", 0.64},
				{"network", "EC2 public IPv4", "0.005 USD/address-hour x 1 address x 730 h = 3.65", 3.65},
			},
		},
		{
			name: "instance without a root volume size gets 8 GiB, and says so",
			resources: []recorded{{Type: "aws:ec2/instance:Instance", Name: "nat", Parent: networkURN, Inputs: map[string]any{
				"instanceType": "t3.nano",
			}}},
			want: []wantLine{
				{"network", "EC2 t3.nano", "", 3.80}, // 0.0052 x 730 = 3.796
				{"network", "EBS gp3", "0.08 USD/GB-month x 8 GB (root volume; size unset, 8 GiB assumed) = 0.64", 0.64},
			},
		},
		{
			name: "task public IPv4 per task when assignPublicIp",
			resources: func() []recorded {
				svc := ecsService("catalog", 2, share("FARGATE", 0, 1))
				svc.Inputs["networkConfiguration"] = map[string]any{"assignPublicIp": true}
				return []recorded{taskDef("catalog", "256", "512", "X86_64"), svc}
			}(),
			want: []wantLine{{"service:catalog", "Task public IPv4",
				"0.005 USD/address-hour x 2 addresses (assignPublicIp) x 730 h = 7.30", 7.30}},
		},
		{
			name: "alarms: one metric alarm, two per target tracking policy, none for step scaling",
			resources: []recorded{
				{Type: "aws:cloudwatch/metricAlarm:MetricAlarm", Name: "catalog-5xx", Parent: catalogURN, Inputs: map[string]any{"period": 60.0}},
				{Type: "aws:appautoscaling/policy:Policy", Name: "catalog-cpu", Parent: catalogURN, Inputs: map[string]any{"policyType": "TargetTrackingScaling"}},
				{Type: "aws:appautoscaling/policy:Policy", Name: "catalog-requests", Parent: catalogURN, Inputs: map[string]any{"policyType": "TargetTrackingScaling"}},
				{Type: "aws:appautoscaling/policy:Policy", Name: "catalog-step", Parent: catalogURN, Inputs: map[string]any{"policyType": "StepScaling"}},
			},
			want: []wantLine{
				{"service:catalog", "CloudWatch alarm catalog-5xx (standard)", "0.1 USD/alarm-month x 1 alarm metric = 0.10", 0.10},
				{"service:catalog", "Target tracking alarms of catalog-cpu", "0.1 USD/alarm-month x 2 alarms (alarmsPerTargetTrackingPolicy) = 0.20", 0.20},
				{"service:catalog", "Target tracking alarms of catalog-requests", "", 0.20},
			},
		},
		{
			name: "secrets: per secret per month, plus API calls",
			resources: []recorded{
				{Type: "aws:secretsmanager/secret:Secret", Name: "admin-token", Parent: tokenURN},
			},
			want: []wantLine{
				{"admin-token", "Secrets Manager secret", "0.4 USD/secret-month x 1 secret = 0.40", 0.40},
				{"admin-token", "Secrets Manager API calls", "0.05 USD/10,000 calls x 10000 calls/month (secretsApiCalls) / 10,000 = 0.05", 0.05},
			},
		},
		{
			name:  "logs: service logs at the standard price, flow logs as vended logs, storage by retention",
			usage: map[string]string{"appLogGB": "1"},
			resources: []recorded{
				{Type: "aws:cloudwatch/logGroup:LogGroup", Name: "catalog", Parent: catalogURN,
					Inputs: map[string]any{"name": "/shop/dev/catalog", "retentionInDays": 30.0}},
				{Type: "aws:cloudwatch/logGroup:LogGroup", Name: "network-flow-logs", Parent: networkURN,
					Inputs:  map[string]any{"name": "/shop/dev/vpc-flow-logs", "retentionInDays": 7.0},
					Outputs: map[string]any{"arn": "arn:aws:logs:us-east-1:123456789012:log-group:/shop/dev/vpc-flow-logs"}},
				{Type: "aws:ec2/flowLog:FlowLog", Name: "network", Parent: networkURN, Inputs: map[string]any{
					"logDestinationType": "cloud-watch-logs",
					"logDestination":     "arn:aws:logs:us-east-1:123456789012:log-group:/shop/dev/vpc-flow-logs",
				}},
			},
			want: []wantLine{
				{"service:catalog", "Log ingestion /shop/dev/catalog", "0.5 USD/GB x 1 GB/month (appLogGB) = 0.50", 0.50},
				// 1 GB x 30 / 30.4167 days kept = 0.986 GB x 0.03
				{"service:catalog", "Log storage /shop/dev/catalog",
					"0.03 USD/GB-month x 0.986 GB kept (1 GB/month x 30 days retention / 30.4167 days) = 0.03", 0.03},
				{"network", "Log ingestion /shop/dev/vpc-flow-logs", "0.5 USD/GB x 2 GB/month (flowLogGB) = 1.00", 1.00},
			},
		},
		{
			name: "logs: a REJECT flow log and the database's two logs each have their own volume",
			resources: []recorded{
				{Type: "aws:cloudwatch/logGroup:LogGroup", Name: "network-flow-logs", Parent: networkURN,
					Inputs:  map[string]any{"name": "/shop/dev/vpc-flow-logs", "retentionInDays": 7.0},
					Outputs: map[string]any{"arn": "arn:aws:logs:us-east-1:123456789012:log-group:/shop/dev/vpc-flow-logs"}},
				{Type: "aws:ec2/flowLog:FlowLog", Name: "network", Parent: networkURN, Inputs: map[string]any{
					"logDestinationType": "cloud-watch-logs", "trafficType": "REJECT",
					"logDestination": "arn:aws:logs:us-east-1:123456789012:log-group:/shop/dev/vpc-flow-logs",
				}},
				{Type: "aws:cloudwatch/logGroup:LogGroup", Name: "database-postgresql", Parent: databaseURN,
					Inputs: map[string]any{"name": "/aws/rds/instance/shop-dev/postgresql", "retentionInDays": 7.0}},
				{Type: "aws:cloudwatch/logGroup:LogGroup", Name: "database-upgrade", Parent: databaseURN,
					Inputs: map[string]any{"name": "/aws/rds/instance/shop-dev/upgrade", "retentionInDays": 7.0}},
			},
			want: []wantLine{
				{"network", "Log ingestion /shop/dev/vpc-flow-logs", "0.5 USD/GB x 0.25 GB/month (flowLogRejectGB) = 0.13", 0.13},
				{"database", "Log ingestion /aws/rds/instance/shop-dev/postgresql", "0.5 USD/GB x 0.25 GB/month (rdsLogGB) = 0.13", 0.13},
				{"database", "Log ingestion /aws/rds/instance/shop-dev/upgrade", "0.5 USD/GB x 0.01 GB/month (rdsUpgradeLogGB) = 0.01", 0.01},
			},
		},
		{
			name: "Container Insights on: metrics per service and performance logs",
			resources: []recorded{
				{Type: "aws:ecs/cluster:Cluster", Name: "cluster", Parent: clusterURN,
					Inputs:  map[string]any{"settings": []any{map[string]any{"name": "containerInsights", "value": "enabled"}}},
					Outputs: map[string]any{"arn": "arn:aws:ecs:us-east-1:123456789012:ecs/cluster"}},
				taskDef("catalog", "256", "512", "X86_64"),
				ecsService("catalog", 1, share("FARGATE", 0, 1)),
			},
			want: []wantLine{
				{"cluster", "Container Insights metrics (enabled)",
					"0.3 USD/metric-month x 16 metrics per service (containerInsightsMetricsPerService) x 1 service = 4.80", 4.80},
				{"cluster", "Container Insights performance logs", "", 0.05},
			},
		},
		{
			name: "ECR and the access log bucket",
			resources: []recorded{
				{Type: "aws:ecr/repository:Repository", Name: "catalog", Parent: catalogURN},
				{Type: "aws:s3/bucketV2:BucketV2", Name: "loadbalancer-logs", Parent: lbURN},
			},
			want: []wantLine{
				{"service:catalog", "ECR image storage", "0.1 USD/GB-month x 0.5 GB (ecrGB) = 0.05", 0.05},
				{"loadbalancer", "S3 storage", "", 0.02}, // 0.023 x 1
				{"loadbalancer", "S3 PUT requests", "0.005 USD/1,000 requests x 20 thousand requests (s3PutThousands) = 0.10", 0.10},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var kv []string
			for k, v := range tt.usage {
				kv = append(kv, k+"="+v)
			}
			usage, err := parseAssumptions(kv, defaultAssumptions(), "-assume")
			if err != nil {
				t.Fatal(err)
			}
			est := estimateOf(t, usage, tt.resources...)
			checkLines(t, est, tt.want)
			if tt.want == nil && len(est.Lines) > 0 {
				t.Errorf("got lines, want none:\n%s", dump(est))
			}
			sum := 0.0
			for _, l := range est.Lines {
				sum += l.Monthly
			}
			if got, want := est.Total, cents(sum); got != want {
				t.Errorf("total: got %.2f, want %.2f (the lines' sum)", got, want)
			}
			if got := cents(est.Ceiling - est.Total); math.Abs(got-tt.ceilingExtra) > 0.005 {
				t.Errorf("ceiling - total: got %.2f, want %.2f", got, tt.ceilingExtra)
			}
		})
	}
}

func TestContainerInsightsOffCostsNothing(t *testing.T) {
	est := estimateOf(t, nil,
		recorded{Type: "aws:ecs/cluster:Cluster", Name: "cluster", Parent: clusterURN,
			Inputs:  map[string]any{"settings": []any{map[string]any{"name": "containerInsights", "value": "disabled"}}},
			Outputs: map[string]any{"arn": "arn:aws:ecs:us-east-1:123456789012:ecs/cluster"}},
		taskDef("catalog", "256", "512", "X86_64"),
		ecsService("catalog", 1, share("FARGATE", 0, 1)),
	)
	for _, l := range est.Lines {
		if l.Component == "cluster" {
			t.Errorf("got line %q with Container Insights disabled, want none", l.Item)
		}
	}
}

func TestSplitTasks(t *testing.T) {
	tests := []struct {
		name           string
		n              float64
		strategy       []any
		onDemand, spot float64
	}{
		{"no strategy: launch type FARGATE", 2, nil, 2, 0},
		{"on-demand only", 3, []any{share("FARGATE", 0, 1)}, 3, 0},
		{"spot only", 3, []any{share("FARGATE_SPOT", 0, 1)}, 0, 3},
		{"base covers everything", 2, []any{share("FARGATE", 2, 1), share("FARGATE_SPOT", 0, 1)}, 2, 0},
		{"prod at its maximum: base 2, 6 split 1:1", 8, []any{share("FARGATE", 2, 1), share("FARGATE_SPOT", 0, 1)}, 5, 3},
		{"base 1, then 1:3", 5, []any{share("FARGATE", 1, 1), share("FARGATE_SPOT", 0, 3)}, 2, 3},
		{"base larger than the count", 1, []any{share("FARGATE", 2, 1), share("FARGATE_SPOT", 0, 1)}, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := splitTasks(tt.n, tt.strategy)
			if got.onDemand != tt.onDemand || got.spot != tt.spot {
				t.Errorf("got %v on-demand + %v Spot, want %v + %v (%s)", got.onDemand, got.spot, tt.onDemand, tt.spot, got.split)
			}
		})
	}
}

func TestEstimateRefuses(t *testing.T) {
	tests := []struct {
		name      string
		resources []recorded
		wantInErr []string
	}{
		{"unknown RDS instance class",
			[]recorded{rdsInstance("db.x9.huge", false, 20)},
			[]string{`"db.x9.huge"`, pricesFile}},
		{"unknown EC2 instance type",
			[]recorded{{Type: "aws:ec2/instance:Instance", Name: "nat", Parent: networkURN, Inputs: map[string]any{"instanceType": "c7g.16xlarge"}}},
			[]string{`"c7g.16xlarge"`, pricesFile}},
		{"a resource type in neither list",
			[]recorded{{Type: "aws:dynamodb/table:Table", Name: "orders", Parent: catalogURN}},
			[]string{"aws:dynamodb/table:Table", "pricedTypes", "freeTypes"}},
		{"a provider in another region than the prices",
			[]recorded{{Type: "pulumi:providers:aws", Name: "aws", Inputs: map[string]any{"region": "eu-west-1"}}},
			[]string{"eu-west-1", "us-east-1"}},
		{"a service whose task definition is not registered",
			[]recorded{ecsService("catalog", 1, share("FARGATE", 0, 1))},
			[]string{"catalog", "task definition"}},
		{"a network load balancer",
			[]recorded{{Type: "aws:lb/loadBalancer:LoadBalancer", Name: "nlb", Parent: lbURN, Inputs: map[string]any{"loadBalancerType": "network"}}},
			[]string{`"network"`, pricesFile}},
		{"a flow log to S3",
			[]recorded{{Type: "aws:ec2/flowLog:FlowLog", Name: "network", Parent: networkURN, Inputs: map[string]any{"logDestinationType": "s3"}}},
			[]string{`"s3"`, pricesFile}},
	}
	prices, err := loadPrices("us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := estimateCost(&stack{resources: tt.resources}, prices, defaultAssumptions())
			if err == nil {
				t.Fatalf("got no error, want one naming %v", tt.wantInErr)
			}
			for _, s := range tt.wantInErr {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("got error %q, want it to name %s", err, s)
				}
			}
		})
	}
}

func TestLoadPrices(t *testing.T) {
	prices, err := loadPrices("us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	if prices.AsOf == "" || prices.Note == "" {
		t.Errorf("got asOf %q and note %q, want both", prices.AsOf, prices.Note)
	}
	// The keys the estimate asks for by name (instance types and classes
	// are looked up from what the program registers).
	for _, key := range []string{
		"fargate.x86_64.vcpu", "fargate.x86_64.memory", "fargate.arm64.vcpu", "fargate.arm64.memory",
		"fargate.ephemeral-storage", "alb.hour", "alb.lcu", "nat-gateway.hour", "nat-gateway.data",
		"public-ipv4.hour", "ec2.t4g.nano", "ec2.t4g.micro", "ec2.t3.nano", "ebs.gp3",
		"rds.postgres.db.t4g.micro", "rds.postgres.db.t4g.small", "rds.postgres.db.t4g.medium",
		"rds.postgres.db.m7g.large", "rds.storage.gp3", "cloudwatch.alarm.standard",
		"cloudwatch.alarm.high-resolution", "cloudwatch.metric", "cloudwatch.logs.ingestion",
		"cloudwatch.logs.vended", "cloudwatch.logs.storage", "secretsmanager.secret", "secretsmanager.api",
		"ecr.storage", "s3.standard", "s3.put", "cloudmap.instance",
	} {
		if _, ok := prices.Prices[key]; !ok {
			t.Errorf("us-east-1: no price %q", key)
		}
	}

	_, err = loadPrices("eu-west-1")
	if err == nil {
		t.Fatal("eu-west-1: got no error, want the region refused")
	}
	for _, s := range []string{`"eu-west-1"`, "us-east-1", pricesFile} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("eu-west-1: got %q, want it to name %s", err, s)
		}
	}
}

func TestParsePricesRejectsIncompleteEntries(t *testing.T) {
	entry := func(fields string) []byte {
		return []byte("asOf: \"2026-11-29\"\nregions:\n  us-east-1:\n    - " + fields + "\n")
	}
	good := "{key: alb.hour, usd: 0.0225, unit: hour, page: 'https://aws.amazon.com/elasticloadbalancing/pricing/', checked: somewhere}"
	if _, err := parsePrices(entry(good), "us-east-1"); err != nil {
		t.Fatalf("good entry: %v", err)
	}
	tests := []struct{ name, fields, want string }{
		{"negative price", strings.Replace(good, "0.0225", "-1", 1), "usd"},
		{"zero price", strings.Replace(good, "0.0225", "0", 1), "usd"},
		{"no unit", strings.Replace(good, "unit: hour, ", "", 1), "unit"},
		{"not an AWS page", strings.Replace(good, "https://aws.amazon.com/", "https://example.com/", 1), "page"},
		{"no source", strings.Replace(good, ", checked: somewhere", "", 1), "checked"},
		{"no key", strings.Replace(good, "key: alb.hour, ", "", 1), "key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parsePrices(entry(tt.fields), "us-east-1")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error about %s", err, tt.want)
			}
		})
	}
	dup := []byte("asOf: x\nregions:\n  us-east-1:\n    - " + good + "\n    - " + good + "\n")
	if _, err := parsePrices(dup, "us-east-1"); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate key: got %v, want an error", err)
	}
}

func TestParseAssumptions(t *testing.T) {
	base := defaultAssumptions()
	tests := []struct {
		name      string
		kv        []string
		wantKey   string
		wantValue float64
		wantErr   []string // each must appear in the error
	}{
		{"override", []string{"natGB=250"}, "natGB", 250, nil},
		{"spaces and zero", []string{" albLcu = 0 "}, "albLcu", 0, nil},
		{"unknown key", []string{"natGb=1"}, "", 0, []string{`"natGb"`, "unknown", "natGB"}},
		{"not a number", []string{"natGB=lots"}, "", 0, []string{`"natGB"`, `"lots"`}},
		{"negative", []string{"appLogGB=-1"}, "", 0, []string{`"appLogGB"`, ">= 0"}},
		{"not finite", []string{"appLogGB=NaN"}, "", 0, []string{`"appLogGB"`}},
		{"no equals sign", []string{"natGB"}, "", 0, []string{`"natGB"`, "key=value"}},
		{"discount above 1", []string{"fargateSpotDiscount=1.5"}, "", 0, []string{`"fargateSpotDiscount"`}},
		{"every bad entry named", []string{"natGB=x", "nope=1"}, "", 0, []string{`"natGB"`, `"nope"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseAssumptions(tt.kv, base, "-assume")
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatalf("got no error, want one naming %v", tt.wantErr)
				}
				for _, s := range tt.wantErr {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("got %q, want it to contain %s", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got[tt.wantKey].Value != tt.wantValue || got[tt.wantKey].Source != "-assume" {
				t.Errorf("%s: got %v from %s, want %v from -assume", tt.wantKey, got[tt.wantKey].Value, got[tt.wantKey].Source, tt.wantValue)
			}
			if base[tt.wantKey].Value == tt.wantValue {
				t.Fatalf("test case does not change %s", tt.wantKey)
			}
		})
	}
	if base["natGB"].Value != 10 {
		t.Errorf("base natGB: got %v after overrides, want 10 (parseAssumptions must copy)", base["natGB"].Value)
	}
	for key, a := range base {
		if a.Key != key || a.Unit == "" || a.Why == "" {
			t.Errorf("assumption %q: got %+v, want its key, unit and why", key, a)
		}
	}
}

// TestStackFilesArePriced runs the real program on the dev and production
// stack files and checks that every registered type is priced or known to
// be free, and that every priced resource shows up in a line.
func TestStackFilesArePriced(t *testing.T) {
	for _, k := range pricedTypes {
		if _, free := freeTypes[k]; free {
			t.Errorf("%s is both priced and free", k)
		}
	}
	prices, err := loadPrices("us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range scenarios(t) {
		if sc.name != "dev" && sc.name != "prod" && sc.name != "dev+telemetry+dashboard" {
			continue
		}
		t.Run(sc.name, func(t *testing.T) {
			st := sc.run(t)
			for _, r := range st.resources {
				_, free := freeTypes[r.Type]
				if !free && !isComponent(r.Type) && !slices.Contains(pricedTypes, r.Type) {
					t.Errorf("%s %s: neither priced nor listed as free", r.Type, r.Name)
				}
			}
			est, err := estimateCost(st, prices, defaultAssumptions())
			if err != nil {
				t.Fatal(err)
			}
			has := func(component string, match func(costLine) bool) bool {
				for _, l := range est.Lines {
					if l.Component == component && match(l) {
						return true
					}
				}
				return false
			}
			keyPrefix := func(prefix string) func(costLine) bool {
				return func(l costLine) bool {
					return slices.ContainsFunc(l.PriceKeys, func(k string) bool { return strings.HasPrefix(k, prefix) })
				}
			}
			item := func(s string) func(costLine) bool { return func(l costLine) bool { return l.Item == s } }
			for _, r := range st.resources {
				c := componentOf(r.Parent)
				var match func(costLine) bool
				switch r.Type {
				case "awsx:ec2:Vpc":
					if sc.nat == "Instance" {
						continue // strategy None: awsx makes no gateway; the instance is priced below
					}
					match = keyPrefix("nat-gateway.hour")
				case "aws:lb/loadBalancer:LoadBalancer":
					match = keyPrefix("alb.hour")
				case "aws:ecs/service:Service":
					match = keyPrefix("fargate.")
				case "aws:rds/instance:Instance":
					match = keyPrefix("rds.postgres.")
				case "aws:cloudwatch/metricAlarm:MetricAlarm":
					match = item("CloudWatch alarm " + r.Name + " (standard)")
				case "aws:appautoscaling/policy:Policy":
					match = item("Target tracking alarms of " + r.Name)
				case "aws:cloudwatch/logGroup:LogGroup":
					match = item("Log ingestion " + fmt.Sprint(r.Inputs["name"]))
				case "aws:secretsmanager/secret:Secret":
					match = keyPrefix("secretsmanager.secret")
				case "aws:ecr/repository:Repository":
					match = keyPrefix("ecr.")
				case "aws:s3/bucketV2:BucketV2":
					match = keyPrefix("s3.")
				case "aws:ec2/instance:Instance":
					match = keyPrefix("ec2.")
				case "aws:ecs/cluster:Cluster":
					if strings.Contains(fmt.Sprint(r.Inputs["settings"]), "value:disabled") {
						continue
					}
					match = keyPrefix("cloudwatch.metric")
				case "aws:cloudwatch/dashboard:Dashboard":
					match = item("CloudWatch dashboard " + fmt.Sprint(r.Inputs["dashboardName"]))
				case "aws:sns/topic:Topic":
					match = item("SNS publishes " + fmt.Sprint(r.Inputs["name"]))
				case "aws:sqs/queue:Queue":
					if r.Inputs["redrivePolicy"] == nil {
						continue // a dead-letter queue: only SQS writes to it
					}
					match = item("SQS requests " + fmt.Sprint(r.Inputs["name"]))
				default:
					if slices.Contains(pricedTypes, r.Type) {
						t.Errorf("%s: priced type without a check here", r.Type)
					}
					continue
				}
				if !has(c, match) {
					t.Errorf("%s %s: no line under %q", r.Type, r.Name, c)
				}
			}

			if nat := map[string]float64{"Single": 1, "OnePerAz": float64(sc.zones)}[sc.nat]; nat > 0 {
				checkLines(t, est, []wantLine{{"network", "NAT gateway hours", "", cents(0.045 * nat * 730)}})
			} else if has("network", keyPrefix("nat-gateway.")) {
				t.Errorf("%s: got NAT gateway lines, want none", sc.nat)
			}
			sum := 0.0
			for _, l := range est.Lines {
				sum += l.Monthly
			}
			if est.Total != cents(sum) || est.Total <= 0 {
				t.Errorf("total: got %.2f, want the lines' sum %.2f", est.Total, cents(sum))
			}
			// Services with room to scale raise the ceiling; without it the
			// month cannot cost more than the total.
			if scales := sc.value("maxTasks") != sc.value("minTasks"); scales != (est.Ceiling > est.Total) || est.Ceiling < est.Total {
				t.Errorf("ceiling: got %.2f with total %.2f, want it above the total only when services scale (%v)", est.Ceiling, est.Total, scales)
			}
			if len(est.Assumptions) == 0 {
				t.Error("got no assumptions listed")
			}
			t.Logf("%s estimate (%s, prices as of %s):\n%s", sc.name, est.Region, est.AsOf, dump(est))
		})
	}
}

func TestEstimateIsStableAndListsItsAssumptions(t *testing.T) {
	resources := []recorded{
		awsxVpc("Single", "us-east-1a", "us-east-1b"),
		taskDef("catalog", "256", "512", "X86_64"),
		ecsService("catalog", 3, share("FARGATE", 1, 1), share("FARGATE_SPOT", 0, 1)),
		{Type: "aws:secretsmanager/secret:Secret", Name: "admin-token", Parent: tokenURN},
	}
	forward := estimateOf(t, nil, resources...)
	reversed := slices.Clone(resources)
	slices.Reverse(reversed)
	backward := estimateOf(t, nil, reversed...)
	if got, want := dump(backward), dump(forward); got != want {
		t.Errorf("lines depend on registration order:\n got\n%s\nwant\n%s", got, want)
	}

	var keys []string
	for _, a := range forward.Assumptions {
		keys = append(keys, a.Key)
	}
	if want := []string{"fargateSpotDiscount", "natGB", "secretsApiCalls"}; !slices.Equal(keys, want) {
		t.Errorf("assumptions: got %v, want %v (exactly the ones the lines use)", keys, want)
	}
}
