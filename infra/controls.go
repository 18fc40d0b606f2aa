package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/fargateshop/shop/platform/routing"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// control is one AWS Foundational Security Best Practices (FSBP) control, or
// a related requirement of ours with a lower-case suffix (RDS.tls), checked
// against the recorded resources.
//
// check returns the control's violations in one program run; none means the
// control is met. It reports through t only what must hold whatever the
// control's status: a resource that is missing, or the program not doing what
// its configuration asks (dev turning deletion protection off is a violation
// of ELB.6 and also what dev's configuration says).
type control struct {
	id, title string
	check     func(t reporter, sc controlScope, st *stack) []string
}

// reporter is where a check reports what must hold whatever a control's
// status: *testing.T in the tests, the plan's collector in `make plan`.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// controlScope is the stack configuration a check compares the resources
// with: the flat key/value form the engine hands to the program.
type controlScope struct {
	config map[string]string
}

// value is the effective value of a project setting: the stack's, else the
// default the program applies.
func (sc controlScope) value(key string) string {
	if v, ok := sc.config["shop:"+key]; ok {
		return v
	}
	return settings[key].Default
}

func (sc controlScope) flag(key string) bool { return sc.value(key) == "true" }

// FSBP parameters the checks use, with the control's default value.
const (
	// RDS.11 backupRetentionMinimum.
	fsbpMinBackupDays = 7
	// SecretsManager.4 maxDaysSinceRotation.
	fsbpMaxDaysSinceRotation = 90
)

// controls is the table docs/security.md lists, by ID and title; the titles
// are FSBP's own.
var controls = []control{
	{"ECS.2", "ECS services should not have public IP addresses assigned to them automatically",
		everyInputIs("aws:ecs/service:Service", false, "networkConfiguration", "assignPublicIp")},
	{"ECS.4", "ECS containers should run as non-privileged", func(t reporter, sc controlScope, st *stack) (v []string) {
		for _, s := range routing.Services {
			for _, c := range containers(t, st, s.Name) {
				if c.Privileged {
					v = append(v, fmt.Sprintf("%s/%s: got privileged true, want false", s.Name, c.Name))
				}
			}
		}
		return v
	}},
	{"ECS.5", "ECS containers should be limited to read-only access to root filesystems", func(t reporter, sc controlScope, st *stack) (v []string) {
		for _, s := range routing.Services {
			for _, c := range containers(t, st, s.Name) {
				if !c.ReadonlyRootFilesystem {
					v = append(v, fmt.Sprintf("%s/%s: got readonlyRootFilesystem false, want true", s.Name, c.Name))
				}
				// The collector writes nothing (telemetry.go) and mounts
				// nothing.
				if c.Name != s.Name && len(c.MountPoints) > 0 {
					t.Errorf("%s/%s: got mounts %+v, want none", s.Name, c.Name, c.MountPoints)
				}
			}
			c := container(t, st, s.Name)
			// What the apps may write goes to a task-scoped volume at /tmp;
			// with ECS Exec, the SSM agent's state and logs get their own.
			want := []mountPoint{{SourceVolume: "tmp", ContainerPath: "/tmp"}}
			if sc.flag("enableExecuteCommand") {
				want = append(want, mountPoint{SourceVolume: "ssm-state", ContainerPath: "/var/lib/amazon"},
					mountPoint{SourceVolume: "ssm-logs", ContainerPath: "/var/log/amazon"})
			}
			if !slices.Equal(c.MountPoints, want) {
				t.Errorf("%s: got mounts %+v, want %+v", s.Name, c.MountPoints, want)
			}
		}
		return v
	}},
	{"ECS.8", "Secrets should not be passed as container environment variables", func(t reporter, sc controlScope, st *stack) (v []string) {
		secretish := regexp.MustCompile(`(?i)(PASSWORD|SECRET|TOKEN|ACCESS_KEY|AUTH_DATA|PRIVATE)`)
		// The name of a secret, not its value: the whole ARN of a Secrets
		// Manager secret, with no JSON key, stage or version after it.
		secretArn := regexp.MustCompile(`^arn:aws:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@!-]+$`)
		for _, s := range routing.Services {
			for _, c := range containers(t, st, s.Name) {
				for _, kv := range c.Environment {
					if strings.Contains(kv.Value, "generated-") {
						v = append(v, fmt.Sprintf("%s: got generated secret value in %s=%q, want it in secrets", s.Name, kv.Name, kv.Value))
						continue
					}
					if !secretish.MatchString(kv.Name) {
						continue
					}
					if strings.HasSuffix(kv.Name, "_SECRET_ARN") && secretArn.MatchString(kv.Value) {
						continue // where the app fetches a secret, with its task role
					}
					v = append(v, fmt.Sprintf("%s: got secret-looking environment variable %s=%q, want it in secrets", s.Name, kv.Name, kv.Value))
				}
				for _, ref := range c.Secrets {
					if !strings.HasPrefix(ref.ValueFrom, "arn:aws:secretsmanager:") {
						v = append(v, fmt.Sprintf("%s: secret %s comes from %q, want a Secrets Manager ARN", s.Name, ref.Name, ref.ValueFrom))
					}
				}
			}
		}
		return v
	}},
	{"ECS.9", "ECS task definitions should have a logging configuration", func(t reporter, sc controlScope, st *stack) (v []string) {
		for _, s := range routing.Services {
			group := st.one(t, "aws:cloudwatch/logGroup:LogGroup", s.Name)
			// Every container logs to the service's group, each under a
			// stream prefix of its own.
			prefixes := map[string]bool{}
			for _, c := range containers(t, st, s.Name) {
				if c.LogConfiguration.LogDriver != "awslogs" || c.LogConfiguration.Options["awslogs-group"] != group.Outputs["name"] {
					v = append(v, fmt.Sprintf("%s/%s: got logging %+v, want awslogs to %v", s.Name, c.Name, c.LogConfiguration, group.Outputs["name"]))
				}
				prefix := c.LogConfiguration.Options["awslogs-stream-prefix"]
				if prefix != c.Name || prefixes[prefix] {
					t.Errorf("%s/%s: got stream prefix %q, want the container's name, unique in the task", s.Name, c.Name, prefix)
				}
				prefixes[prefix] = true
			}
			if got := fmt.Sprint(group.Inputs["retentionInDays"]); got != sc.value("logRetentionDays") {
				t.Errorf("%s: got retention %s days, want %s", s.Name, got, sc.value("logRetentionDays"))
			}
			// The Service Connect proxy logs to the same group.
			scLogs := dig(st.one(t, "aws:ecs/service:Service", s.Name).Inputs, "serviceConnectConfiguration", "logConfiguration")
			if dig(scLogs, "logDriver") != "awslogs" || dig(scLogs, "options", "awslogs-group") != group.Outputs["name"] {
				v = append(v, fmt.Sprintf("%s: got Service Connect logging %v, want awslogs to %v", s.Name, scLogs, group.Outputs["name"]))
			}
		}
		return v
	}},
	{"ECS.12", "ECS clusters should use Container Insights", func(t reporter, sc controlScope, st *stack) (v []string) {
		cluster := st.one(t, "aws:ecs/cluster:Cluster", "cluster")
		got := dig(cluster.Inputs, "settings", "0")
		if dig(got, "name") != "containerInsights" || (dig(got, "value") != "enabled" && dig(got, "value") != "enhanced") {
			v = append(v, fmt.Sprintf("got cluster settings %v, want containerInsights enabled", cluster.Inputs["settings"]))
		}
		if dig(got, "value") != sc.value("containerInsights") {
			t.Errorf("got containerInsights %v, want the configured %s", dig(got, "value"), sc.value("containerInsights"))
		}
		return v
	}},
	{"ECS.20", "ECS Task Definitions should configure non-root users in Linux container definitions", func(t reporter, sc controlScope, st *stack) (v []string) {
		for _, s := range routing.Services {
			for _, c := range containers(t, st, s.Name) {
				if uid := strings.Split(c.User, ":")[0]; uid == "" || uid == "0" || uid == "root" {
					v = append(v, fmt.Sprintf("%s/%s: got user %q, want a non-root uid", s.Name, c.Name, c.User))
				}
				// The apps run as distroless's nonroot; the collector as
				// the ADOT image's own aoc user.
				want := map[string]string{s.Name: "65532:65532", collectorName: "4317:4317"}[c.Name]
				if c.User != want {
					t.Errorf("%s/%s: got user %q, want %q", s.Name, c.Name, c.User, want)
				}
			}
		}
		return v
	}},
	{"ECR.1", "ECR private repositories should have image scanning configured",
		everyInputIs("aws:ecr/repository:Repository", true, "imageScanningConfiguration", "scanOnPush")},
	{"ECR.2", "ECR private repositories should have tag immutability configured", func(t reporter, sc controlScope, st *stack) (v []string) {
		for _, r := range st.ofType("aws:ecr/repository:Repository") {
			if got := r.Inputs["imageTagMutability"]; got != "IMMUTABLE" {
				v = append(v, fmt.Sprintf("%s: got tag mutability %v, want IMMUTABLE", r.Name, got))
			}
			if got := r.Inputs["forceDelete"]; got != sc.flag("forceDestroy") {
				t.Errorf("%s: got forceDelete %v, want %v", r.Name, got, sc.flag("forceDestroy"))
			}
		}
		return v
	}},
	{"ECR.3", "ECR repositories should have at least one lifecycle policy configured", func(t reporter, sc controlScope, st *stack) (v []string) {
		for _, r := range st.ofType("aws:ecr/repository:Repository") {
			policies := st.where("aws:ecr/lifecyclePolicy:LifecyclePolicy", "repository", r.Outputs["name"])
			if len(policies) != 1 || !strings.Contains(fmt.Sprint(policies[0].Inputs["policy"]), `"type":"expire"`) {
				v = append(v, fmt.Sprintf("%s: got lifecycle policies %v, want one that expires images", r.Name, policies))
				continue
			}
			var doc struct {
				Rules []struct {
					Selection map[string]any
					Action    struct{ Type string }
				}
			}
			if err := json.Unmarshal([]byte(fmt.Sprint(policies[0].Inputs["policy"])), &doc); err != nil {
				t.Fatalf("%s: lifecycle policy: %v", r.Name, err)
			}
			var rules []string
			for _, rule := range doc.Rules {
				sel := rule.Selection
				rules = append(rules, fmt.Sprintf("%s %v %v %v", rule.Action.Type, sel["tagStatus"], sel["countType"], sel["countNumber"]))
			}
			// Untagged layers go after a day; the last keepImages images stay.
			want := []string{"expire untagged sinceImagePushed 1", fmt.Sprintf("expire any imageCountMoreThan %d", keepImages)}
			if !slices.Equal(rules, want) {
				t.Errorf("%s: got lifecycle rules %v, want %v", r.Name, rules, want)
			}
		}
		return v
	}},
	{"ELB.1", "Application Load Balancer should be configured to redirect all HTTP requests to HTTPS", func(t reporter, sc controlScope, st *stack) (v []string) {
		http := st.one(t, "aws:lb/listener:Listener", "loadbalancer-http")
		action := dig(http.Inputs, "defaultActions", "0")
		if dig(action, "type") != "redirect" || dig(action, "redirect", "protocol") != "HTTPS" || dig(action, "redirect", "statusCode") != "HTTP_301" {
			v = append(v, fmt.Sprintf("got HTTP default action %v, want a 301 redirect to HTTPS", action))
		}
		if sc.value("certificateArn") == "" {
			if dig(action, "type") != "forward" || len(st.ofType("aws:lb/listener:Listener")) != 1 {
				t.Errorf("without a certificate: got HTTP action %v, want a single forwarding HTTP listener", action)
			}
			return v
		}
		// The policy's name says the oldest TLS version it accepts:
		// ELBSecurityPolicy-TLS13-1-2-... is TLS 1.2 and 1.3, -1-3- is 1.3
		// only; -1-0- and -1-1- also start with TLS13 and accept TLS 1.0.
		https := st.one(t, "aws:lb/listener:Listener", "loadbalancer-https")
		policy := fmt.Sprint(https.Inputs["sslPolicy"])
		if https.Inputs["protocol"] != "HTTPS" || https.Inputs["certificateArn"] != sc.value("certificateArn") || policy != sc.value("sslPolicy") ||
			!(strings.HasPrefix(policy, "ELBSecurityPolicy-TLS13-1-2-") || strings.HasPrefix(policy, "ELBSecurityPolicy-TLS13-1-3-")) {
			t.Errorf("got HTTPS listener %v, want the configured TLS 1.2+ policy and certificate", https.Inputs)
		}
		return v
	}},
	{"ELB.4", "Application Load Balancer should be configured to drop invalid http headers",
		inputIs("aws:lb/loadBalancer:LoadBalancer", "loadbalancer", "dropInvalidHeaderFields", true)},
	{"ELB.5", "Application and Classic Load Balancers logging should be enabled", func(t reporter, sc controlScope, st *stack) (v []string) {
		alb := st.one(t, "aws:lb/loadBalancer:LoadBalancer", "loadbalancer")
		bucket := st.one(t, "aws:s3/bucketV2:BucketV2", "loadbalancer-logs")
		if logs := asMap(alb.Inputs["accessLogs"]); logs["enabled"] != true || logs["bucket"] != bucket.Outputs["bucket"] {
			v = append(v, fmt.Sprintf("got access logs %v, want enabled into %v", logs, bucket.Outputs["bucket"]))
		}
		id := bucket.Outputs["bucket"]
		sse := st.where("aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2", "bucket", id)
		if len(sse) != 1 || dig(sse[0].Inputs, "rules", "0", "applyServerSideEncryptionByDefault", "sseAlgorithm") != "AES256" {
			v = append(v, fmt.Sprintf("got encryption %v, want SSE-S3", sse))
		}
		lc := st.where("aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2", "bucket", id)
		if len(lc) != 1 || fmt.Sprint(dig(lc[0].Inputs, "rules", "0", "expiration", "days")) != sc.value("accessLogExpirationDays") {
			v = append(v, fmt.Sprintf("got lifecycle %v, want expiry after %s days", lc, sc.value("accessLogExpirationDays")))
		}
		own := st.where("aws:s3/bucketOwnershipControls:BucketOwnershipControls", "bucket", id)
		if len(own) != 1 || dig(own[0].Inputs, "rule", "objectOwnership") != "BucketOwnerEnforced" {
			t.Errorf("got ownership controls %v, want BucketOwnerEnforced", own)
		}
		policy := st.where("aws:s3/bucketPolicy:BucketPolicy", "bucket", id)
		if len(policy) != 1 || !strings.Contains(fmt.Sprint(policy[0].Inputs["policy"]), "logdelivery.elasticloadbalancing.amazonaws.com") {
			return append(v, fmt.Sprintf("got bucket policy %v, want ELB log delivery allowed", policy))
		}
		// ELB log delivery may only put objects under alb/AWSLogs/<account>/.
		logObjects := fmt.Sprintf("%s/alb/AWSLogs/%s/*", bucket.Outputs["arn"], mockAccount)
		for _, stmt := range policies(t, st)["aws:s3/bucketPolicy:BucketPolicy "+policy[0].Name] {
			if stmt.Effect == "Allow" && (fmt.Sprint(strs(stmt.Action)) != "[s3:PutObject]" || fmt.Sprint(strs(stmt.Resource)) != "["+logObjects+"]") {
				t.Errorf("log bucket statement %q allows %v on %v, want only s3:PutObject on %s", stmt.Sid, stmt.Action, stmt.Resource, logObjects)
			}
		}
		return v
	}},
	{"ELB.6", "Application, Gateway, and Network Load Balancers should have deletion protection enabled",
		asConfigured("aws:lb/loadBalancer:LoadBalancer", "loadbalancer", "enableDeletionProtection", "albDeletionProtection")},
	{"ELB.12", "Application Load Balancer should be configured with defensive or strictest desync mitigation mode", func(t reporter, sc controlScope, st *stack) (v []string) {
		got := st.one(t, "aws:lb/loadBalancer:LoadBalancer", "loadbalancer").Inputs["desyncMitigationMode"]
		if got != "defensive" && got != "strictest" {
			v = append(v, fmt.Sprintf("got desyncMitigationMode %v, want defensive or strictest", got))
		}
		return v
	}},
	{"ELB.13", "Application, Network and Gateway Load Balancers should span multiple Availability Zones", func(t reporter, sc controlScope, st *stack) (v []string) {
		alb := st.one(t, "aws:lb/loadBalancer:LoadBalancer", "loadbalancer")
		vpc := st.one(t, "awsx:ec2:Vpc", "network")
		subnets := asStrings(alb.Inputs["subnets"])
		if len(subnets) < 2 || fmt.Sprint(subnets) != fmt.Sprint(asStrings(vpc.Outputs["publicSubnetIds"])) {
			v = append(v, fmt.Sprintf("got ALB subnets %v, want the %s public subnets %v", subnets, sc.value("availabilityZones"), vpc.Outputs["publicSubnetIds"]))
		}
		zones := map[string]bool{}
		for _, z := range asStrings(vpc.Inputs["availabilityZoneNames"]) {
			zones[z] = true
		}
		if len(zones) < 2 {
			v = append(v, fmt.Sprintf("got VPC zones %v, want at least two distinct", vpc.Inputs["availabilityZoneNames"]))
		}
		if alb.Inputs["internal"] != false || alb.Inputs["loadBalancerType"] != "application" {
			t.Errorf("got internal=%v type=%v, want a public application load balancer", alb.Inputs["internal"], alb.Inputs["loadBalancerType"])
		}
		return v
	}},
	{"EC2.2", "VPC default security groups should not allow inbound or outbound traffic", func(t reporter, sc controlScope, st *stack) (v []string) {
		groups := st.ofType("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
		vpc := st.one(t, "awsx:ec2:Vpc", "network")
		if len(groups) != 1 || groups[0].Inputs["vpcId"] != vpc.Outputs["vpcId"] {
			// Unmanaged, the default group keeps AWS's rules: all traffic
			// from members of the group, all outbound.
			return append(v, fmt.Sprintf("got default security groups %v, want one for the VPC", groups))
		}
		if len(asSlice(groups[0].Inputs["ingress"])) != 0 || len(asSlice(groups[0].Inputs["egress"])) != 0 {
			v = append(v, fmt.Sprintf("got default security group rules %v / %v, want none", groups[0].Inputs["ingress"], groups[0].Inputs["egress"]))
		}
		return v
	}},
	{"EC2.6", "VPC flow logging should be enabled in all VPCs", func(t reporter, sc controlScope, st *stack) (v []string) {
		vpc := st.one(t, "awsx:ec2:Vpc", "network")
		group := st.one(t, "aws:cloudwatch/logGroup:LogGroup", "network-flow-logs")
		logs := st.where("aws:ec2/flowLog:FlowLog", "vpcId", vpc.Outputs["vpcId"])
		// The control's trafficType parameter is REJECT, not customizable:
		// a log of refused flows, which ALL includes ("[EC2.6] VPC flow
		// logging should be enabled in all VPCs", Security Hub controls
		// reference; the Config rule vpc-flow-logs-enabled takes it as its
		// trafficType parameter).
		if len(logs) != 1 || (logs[0].Inputs["trafficType"] != "ALL" && logs[0].Inputs["trafficType"] != "REJECT") ||
			logs[0].Inputs["logDestination"] != group.Outputs["arn"] {
			v = append(v, fmt.Sprintf("got flow logs %v, want ALL or REJECT traffic to %v", logs, group.Outputs["arn"]))
		}
		if len(logs) == 1 && logs[0].Inputs["trafficType"] != sc.value("flowLogTrafficType") {
			t.Errorf("got flow log traffic %v, want the configured %s", logs[0].Inputs["trafficType"], sc.value("flowLogTrafficType"))
		}
		if num(group.Inputs["retentionInDays"]) < 1 {
			t.Errorf("got flow log retention %v, want a limit", group.Inputs["retentionInDays"])
		}
		if len(logs) == 1 && fmt.Sprint(logs[0].Inputs["maxAggregationInterval"]) != sc.value("flowLogAggregationSeconds") {
			t.Errorf("got flow log aggregation %v s, want the configured %s", logs[0].Inputs["maxAggregationInterval"], sc.value("flowLogAggregationSeconds"))
		}
		// The delivery role writes to that group only.
		arn := fmt.Sprint(group.Outputs["arn"])
		for _, stmt := range policies(t, st)["aws:iam/rolePolicy:RolePolicy network-flow-logs"] {
			resources := fmt.Sprint(strs(stmt.Resource))
			if resources != fmt.Sprintf("[%s %s:*]", arn, arn) && (resources != "[*]" || fmt.Sprint(strs(stmt.Action)) != "[logs:DescribeLogGroups]") {
				t.Errorf("flow log role statement %q allows %v on %s, want only its own group (and logs:DescribeLogGroups)", stmt.Sid, stmt.Action, resources)
			}
		}
		return v
	}},
	// The EC2 instance controls (EC2.3, EC2.8, EC2.9, SSM.1) apply to every
	// instance; where the stack runs none (NAT gateways) they are met
	// vacuously, as Security Hub reports no failed finding without a
	// resource to evaluate. Only a NAT instance is ever an EC2 instance here.
	{"EC2.3", "Attached Amazon EBS volumes should be encrypted at-rest", func(t reporter, sc controlScope, st *stack) (v []string) {
		for _, r := range natInstances(t, sc, st) {
			if got := dig(r.Inputs, "rootBlockDevice", "encrypted"); got != true {
				v = append(v, fmt.Sprintf("%s: got root volume encrypted %v, want true", r.Name, got))
			}
			for i, d := range asSlice(r.Inputs["ebsBlockDevices"]) {
				if dig(d, "encrypted") != true {
					v = append(v, fmt.Sprintf("%s: got EBS volume %d encrypted %v, want true", r.Name, i, dig(d, "encrypted")))
				}
			}
		}
		for _, r := range st.ofType("aws:ebs/volume:Volume") {
			if r.Inputs["encrypted"] != true {
				v = append(v, fmt.Sprintf("%s: got encrypted %v, want true", r.Name, r.Inputs["encrypted"]))
			}
		}
		return v
	}},
	{"EC2.8", "EC2 instances should use Instance Metadata Service Version 2 (IMDSv2)", func(t reporter, sc controlScope, st *stack) (v []string) {
		for _, r := range natInstances(t, sc, st) {
			if got := dig(r.Inputs, "metadataOptions", "httpTokens"); got != "required" {
				v = append(v, fmt.Sprintf("%s: got httpTokens %v, want required", r.Name, got))
			}
			// A forwarding host keeps the token to itself: one hop.
			if got := num(dig(r.Inputs, "metadataOptions", "httpPutResponseHopLimit")); got != 1 {
				t.Errorf("%s: got metadata hop limit %v, want 1", r.Name, got)
			}
		}
		return v
	}},
	{"EC2.9", "Amazon EC2 instances should not have a public IPv4 address", func(t reporter, sc controlScope, st *stack) (v []string) {
		for _, r := range natInstances(t, sc, st) {
			if r.Inputs["associatePublicIpAddress"] == true || r.Outputs["publicIp"] != nil {
				v = append(v, fmt.Sprintf("%s: got a public IPv4 address (associatePublicIpAddress %v), want none",
					r.Name, r.Inputs["associatePublicIpAddress"]))
			}
		}
		return v
	}},
	{"SSM.1", "Amazon EC2 instances should be managed by AWS Systems Manager", func(t reporter, sc controlScope, st *stack) (v []string) {
		for _, r := range natInstances(t, sc, st) {
			var role any
			for _, p := range st.ofType("aws:iam/instanceProfile:InstanceProfile") {
				if p.Outputs["name"] == r.Inputs["iamInstanceProfile"] {
					role = p.Inputs["role"]
				}
			}
			var managed bool
			for _, a := range st.where("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "role", role) {
				managed = managed || a.Inputs["policyArn"] == ssmManagedInstanceCore
			}
			if role == nil || !managed {
				v = append(v, fmt.Sprintf("%s: got instance profile %v (role %v), want a role with %s for the SSM agent",
					r.Name, r.Inputs["iamInstanceProfile"], role, ssmManagedInstanceCore))
			}
		}
		return v
	}},
	{"EC2.15", "Amazon EC2 subnets should not automatically assign public IP addresses", func(t reporter, sc controlScope, st *stack) (v []string) {
		return publicIPOnLaunch(t, st)
	}},
	{"EC2.18", "Security groups should only allow unrestricted incoming traffic for authorized ports", func(t reporter, sc controlScope, st *stack) (v []string) {
		for _, r := range unrestrictedIngress(t, st) {
			from, to := num(r.Inputs["fromPort"]), num(r.Inputs["toPort"])
			if from != to || (from != 80 && from != 443) {
				v = append(v, fmt.Sprintf("%s: got %v-%v open to the internet, want only 80 or 443", r.Name, from, to))
			}
		}
		return v
	}},
	{"EC2.19", "Security groups should not allow unrestricted access to ports with high risk", func(t reporter, sc controlScope, st *stack) (v []string) {
		highRisk := []float64{20, 21, 22, 23, 25, 110, 135, 143, 445, 1433, 1434, 3000, 3306, 3389, 4333, 5000, 5432, 5500, 5601, 8080, 8088, 8888, 9200, 9300}
		for _, r := range unrestrictedIngress(t, st) {
			if r.Inputs["ipProtocol"] == "-1" {
				v = append(v, fmt.Sprintf("%s: all protocols open to the internet", r.Name))
			}
			for _, p := range highRisk {
				if num(r.Inputs["fromPort"]) <= p && p <= num(r.Inputs["toPort"]) {
					v = append(v, fmt.Sprintf("%s: high-risk port %v open to the internet", r.Name, p))
				}
			}
		}
		return v
	}},
	{"EC2.21", "Network ACLs should not allow ingress from 0.0.0.0/0 to port 22 or port 3389", func(t reporter, sc controlScope, st *stack) (v []string) {
		return openNetworkACLs(st)
	}},
	{"S3.5", "S3 general purpose buckets should require requests to use SSL", func(t reporter, sc controlScope, st *stack) (v []string) {
		for _, bucket := range st.ofType("aws:s3/bucketV2:BucketV2") {
			arn := fmt.Sprint(bucket.Outputs["arn"])
			denied := false
			for _, p := range st.where("aws:s3/bucketPolicy:BucketPolicy", "bucket", bucket.Outputs["bucket"]) {
				for _, stmt := range policies(t, st)["aws:s3/bucketPolicy:BucketPolicy "+p.Name] {
					if stmt.Effect == "Deny" && fmt.Sprint(strs(stmt.Action)) == "[s3:*]" &&
						fmt.Sprint(strs(stmt.Resource)) == fmt.Sprintf("[%s %s/*]", arn, arn) &&
						(stmt.Principal == "*" || fmt.Sprint(strs(asMap(stmt.Principal)["AWS"])) == "[*]") && fmt.Sprint(stmt.Condition) == "map[Bool:map[aws:SecureTransport:false]]" {
						denied = true
					}
				}
			}
			if !denied {
				v = append(v, fmt.Sprintf("%s: no policy statement denies s3:* on the bucket and its objects when aws:SecureTransport is false", bucket.Name))
			}
		}
		return v
	}},
	{"S3.8", "S3 general purpose buckets should block public access", func(t reporter, sc controlScope, st *stack) (v []string) {
		for _, bucket := range st.ofType("aws:s3/bucketV2:BucketV2") {
			pab := st.where("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "bucket", bucket.Outputs["bucket"])
			for _, key := range []string{"blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"} {
				if len(pab) != 1 || pab[0].Inputs[key] != true {
					v = append(v, fmt.Sprintf("%s: got public access block %v, want %s true", bucket.Name, pab, key))
				}
			}
		}
		return v
	}},
	{"SNS.1", "SNS topics should be encrypted at-rest using AWS KMS", func(t reporter, sc controlScope, st *stack) (v []string) {
		for _, topic := range st.ofType("aws:sns/topic:Topic") {
			if topic.Inputs["kmsMasterKeyId"] == nil {
				v = append(v, fmt.Sprintf("%s: got no kmsMasterKeyId, want a KMS key", topic.Name))
			}
		}
		return v
	}},
	{"SNS.4", "SNS topic access policies should not allow public access", func(t reporter, sc controlScope, st *stack) (v []string) {
		for _, topic := range st.ofType("aws:sns/topic:Topic") {
			v = append(v, publicAccess(t, st, "aws:sns/topicPolicy:TopicPolicy", "arn", topic.Outputs["arn"], topic.Name)...)
		}
		return v
	}},
	{"SQS.1", "Amazon SQS queues should be encrypted at rest",
		everyInputIs("aws:sqs/queue:Queue", true, "sqsManagedSseEnabled")},
	{"SQS.3", "SQS queue access policies should not allow public access", func(t reporter, sc controlScope, st *stack) (v []string) {
		for _, q := range st.ofType("aws:sqs/queue:Queue") {
			v = append(v, publicAccess(t, st, "aws:sqs/queuePolicy:QueuePolicy", "queueUrl", q.Outputs["url"], q.Name)...)
		}
		return v
	}},
	{"RDS.2", "RDS DB Instances should prohibit public access, as determined by the PubliclyAccessible AWS Configuration",
		inputIs("aws:rds/instance:Instance", "database", "publiclyAccessible", false)},
	{"RDS.3", "RDS DB instances should have encryption at-rest enabled",
		inputIs("aws:rds/instance:Instance", "database", "storageEncrypted", true)},
	{"RDS.5", "RDS DB instances should be configured with multiple Availability Zones",
		asConfigured("aws:rds/instance:Instance", "database", "multiAz", "dbMultiAz")},
	{"RDS.8", "RDS DB instances should have deletion protection enabled", func(t reporter, sc controlScope, st *stack) (v []string) {
		v = asConfigured("aws:rds/instance:Instance", "database", "deletionProtection", "dbDeletionProtection")(t, sc, st)
		// A final snapshot where the database is protected: not part of
		// the control, but what the row in docs/security.md says.
		if got := st.one(t, "aws:rds/instance:Instance", "database").Inputs["skipFinalSnapshot"]; got != !sc.flag("dbFinalSnapshot") {
			t.Errorf("got skipFinalSnapshot %v, want %v", got, !sc.flag("dbFinalSnapshot"))
		}
		return v
	}},
	{"RDS.9", "RDS DB instances should publish logs to CloudWatch Logs", func(t reporter, sc controlScope, st *stack) (v []string) {
		got := asStrings(st.one(t, "aws:rds/instance:Instance", "database").Inputs["enabledCloudwatchLogsExports"])
		for _, want := range []string{"postgresql", "upgrade"} {
			if !slices.Contains(got, want) {
				v = append(v, fmt.Sprintf("got log exports %v, want %s among them", got, want))
			}
		}
		return v
	}},
	{"RDS.11", "RDS instances should have automatic backups enabled", func(t reporter, sc controlScope, st *stack) (v []string) {
		got := num(st.one(t, "aws:rds/instance:Instance", "database").Inputs["backupRetentionPeriod"])
		if got < fsbpMinBackupDays {
			v = append(v, fmt.Sprintf("got backup retention %v days, want at least %d", got, fsbpMinBackupDays))
		}
		if fmt.Sprint(got) != sc.value("dbBackupRetentionDays") {
			t.Errorf("got backup retention %v days, want the configured %s", got, sc.value("dbBackupRetentionDays"))
		}
		return v
	}},
	{"RDS.13", "RDS automatic minor version upgrades should be enabled", func(t reporter, sc controlScope, st *stack) (v []string) {
		db := st.one(t, "aws:rds/instance:Instance", "database")
		if got := db.Inputs["autoMinorVersionUpgrade"]; got != true {
			v = append(v, fmt.Sprintf("got autoMinorVersionUpgrade %v, want true", got))
		}
		// A major version only, so minor upgrades have somewhere to go.
		if got := db.Inputs["engineVersion"]; got != "17" {
			t.Errorf("got engineVersion %v, want 17", got)
		}
		return v
	}},
	{"RDS.17", "RDS DB instances should be configured to copy tags to snapshots",
		inputIs("aws:rds/instance:Instance", "database", "copyTagsToSnapshot", true)},
	{"RDS.tls", "The database refuses unencrypted connections, and RDS keeps its password", func(t reporter, sc controlScope, st *stack) (v []string) {
		db := st.one(t, "aws:rds/instance:Instance", "database")
		if db.Inputs["manageMasterUserPassword"] != true || db.Inputs["password"] != nil {
			v = append(v, fmt.Sprintf("got manageMasterUserPassword %v password %v, want RDS-managed only", db.Inputs["manageMasterUserPassword"], db.Inputs["password"]))
		}
		params := st.one(t, "aws:rds/parameterGroup:ParameterGroup", "database")
		if db.Inputs["parameterGroupName"] != params.Outputs["name"] || params.Inputs["family"] != "postgres17" {
			v = append(v, fmt.Sprintf("got parameter group %v (family %v), want the postgres17 group", db.Inputs["parameterGroupName"], params.Inputs["family"]))
		}
		if p := dig(params.Inputs, "parameters", "0"); dig(p, "name") != "rds.force_ssl" || dig(p, "value") != "1" {
			v = append(v, fmt.Sprintf("got parameters %v, want rds.force_ssl=1", params.Inputs["parameters"]))
		}
		for _, s := range routing.Services {
			if env := envMap(container(t, st, s.Name)); s.Database && env["PGSSLMODE"] != "require" {
				v = append(v, fmt.Sprintf("%s: got PGSSLMODE %q, want require", s.Name, env["PGSSLMODE"]))
			}
		}
		return v
	}},
	{"SecretsManager.1", "Secrets Manager secrets should have automatic rotation enabled", func(t reporter, sc controlScope, st *stack) (v []string) {
		return unrotatedSecrets(t, st, 0)
	}},
	{"SecretsManager.4", "Secrets Manager secrets should be rotated within a specified number of days", func(t reporter, sc controlScope, st *stack) (v []string) {
		return unrotatedSecrets(t, st, fsbpMaxDaysSinceRotation)
	}},
}

// natInstances returns the stack's EC2 instances, failing through t unless
// there is exactly the one NAT instance natGateways Instance asks for, or
// none.
func natInstances(t reporter, sc controlScope, st *stack) []recorded {
	t.Helper()
	instances := st.ofType("aws:ec2/instance:Instance")
	want := 0
	if sc.value("natGateways") == natInstance {
		want = 1
	}
	if len(instances) != want {
		t.Errorf("got %d EC2 instances, want %d (natGateways %s)", len(instances), want, sc.value("natGateways"))
	}
	return instances
}

// inputIs is a control met when one input of the resource typ/name is want.
func inputIs(typ, name, key string, want any) func(t reporter, sc controlScope, st *stack) []string {
	return func(t reporter, sc controlScope, st *stack) (v []string) {
		if got := st.one(t, typ, name).Inputs[key]; got != want {
			v = append(v, fmt.Sprintf("got %s %v, want %v", key, got, want))
		}
		return v
	}
}

// everyInputIs is a control met when the input at path of every resource of
// type typ is want.
// publicAccess checks the one policy of a topic or queue (the policyType
// resource whose key input is ref): no statement may allow a wildcard
// principal, and one must deny every request without TLS. Missing or
// duplicate policies are reported through t: the program sets exactly one.
func publicAccess(t reporter, st *stack, policyType, key string, ref any, name string) (v []string) {
	found := st.where(policyType, key, ref)
	if len(found) != 1 {
		t.Errorf("%s: got %d policies, want one", name, len(found))
		return nil
	}
	tls := false
	for _, stmt := range policies(t, st)[policyType+" "+found[0].Name] {
		wildcard := stmt.Principal == "*" || slices.Contains(strs(asMap(stmt.Principal)["AWS"]), "*")
		if stmt.Effect == "Allow" && wildcard {
			v = append(v, fmt.Sprintf("%s: statement %q allows principal %v", name, stmt.Sid, stmt.Principal))
		}
		if stmt.Effect == "Deny" && wildcard && fmt.Sprint(stmt.Condition) == "map[Bool:map[aws:SecureTransport:false]]" {
			tls = true
		}
	}
	if !tls {
		t.Errorf("%s: no statement denies requests without TLS (aws:SecureTransport false)", name)
	}
	return v
}

func everyInputIs(typ string, want any, path ...string) func(t reporter, sc controlScope, st *stack) []string {
	return func(t reporter, sc controlScope, st *stack) (v []string) {
		for _, r := range st.ofType(typ) {
			if got := dig(r.Inputs, path...); got != want {
				v = append(v, fmt.Sprintf("%s: got %s %v, want %v", r.Name, path[len(path)-1], got, want))
			}
		}
		return v
	}
}

// asConfigured is a control met when a boolean input of the resource
// typ/name is true, which a stack switches on with the setting key (dev
// leaves it off): whatever the control's status, the input must be what the
// stack asks.
func asConfigured(typ, name, key, setting string) func(t reporter, sc controlScope, st *stack) []string {
	return func(t reporter, sc controlScope, st *stack) (v []string) {
		v = inputIs(typ, name, key, true)(t, sc, st)
		if got := st.one(t, typ, name).Inputs[key]; got != sc.flag(setting) {
			t.Errorf("got %s %v, want %v (%s)", key, got, sc.flag(setting), setting)
		}
		return v
	}
}

// unrestrictedIngress returns every inbound rule open to any address, and
// fails on inline rules, which would escape the check.
func unrestrictedIngress(t reporter, st *stack) []recorded {
	t.Helper()
	for _, sg := range st.ofType("aws:ec2/securityGroup:SecurityGroup") {
		if len(asSlice(sg.Inputs["ingress"])) > 0 || len(asSlice(sg.Inputs["egress"])) > 0 {
			t.Errorf("%s: got inline rules, want separate rule resources", sg.Name)
		}
	}
	var out []recorded
	for _, r := range st.ofType("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule") {
		if r.Inputs["cidrIpv4"] == "0.0.0.0/0" || r.Inputs["cidrIpv6"] == "::/0" {
			out = append(out, r)
		}
	}
	return out
}

// publicIPOnLaunch runs the awsx VPC's transforms on every subnet awsx
// v2.21.0 registers for it (awsx/ec2/vpc.ts: one aws.ec2.Subnet per zone and
// subnet spec, mapPublicIpOnLaunch true for the Public ones) and returns the
// subnets that would still hand out public addresses. Under mocks awsx
// creates no children, so this is the only place the transforms run.
func publicIPOnLaunch(t reporter, st *stack) (v []string) {
	t.Helper()
	vpc := st.one(t, "awsx:ec2:Vpc", "network")
	zones := asStrings(vpc.Inputs["availabilityZoneNames"])
	specs := asSlice(vpc.Inputs["subnetSpecs"])
	if len(zones) == 0 || len(specs) == 0 {
		t.Fatalf("got zones %v and subnet specs %v, want both", zones, specs)
	}
	for _, spec := range specs {
		typ := fmt.Sprint(dig(spec, "type"))
		for i, zone := range zones {
			name := fmt.Sprintf("%s-%s-%d", vpc.Name, strings.ToLower(typ), i+1)
			in := pulumi.Map{
				"vpcId":               pulumi.String(fmt.Sprint(vpc.Outputs["vpcId"])),
				"availabilityZone":    pulumi.String(zone),
				"mapPublicIpOnLaunch": pulumi.Bool(strings.EqualFold(typ, "public")),
				"cidrBlock":           pulumi.String(fmt.Sprintf("10.0.%d.0/24", i)),
				"tags":                pulumi.Map{"Name": pulumi.String(name), "SubnetType": pulumi.String(typ)},
			}
			props, _ := applyTransforms(vpc, pulumi.ResourceTransformArgs{
				Custom: true, Type: "aws:ec2/subnet:Subnet", Name: name, Props: in,
			})
			if got, ok := props["mapPublicIpOnLaunch"].(pulumi.Bool); !ok || bool(got) {
				v = append(v, fmt.Sprintf("%s (%s): got mapPublicIpOnLaunch %v, want false", name, typ, props["mapPublicIpOnLaunch"]))
			}
			// Nothing else about the subnet may change.
			for _, key := range []string{"vpcId", "availabilityZone", "cidrBlock", "tags"} {
				if fmt.Sprint(props[key]) != fmt.Sprint(in[key]) {
					t.Errorf("%s: transforms changed %s from %v to %v", name, key, in[key], props[key])
				}
			}
		}
	}
	return v
}

// openNetworkACLs returns the network ACL entries that let 0.0.0.0/0 or ::/0
// reach port 22 or 3389 over TCP or UDP (the rule behind EC2.21,
// nacl-no-unrestricted-ssh-rdp). A VPC's default network ACL allows all
// inbound traffic until something manages it, and awsx leaves every subnet
// on it: without an aws.ec2.DefaultNetworkAcl the control fails.
func openNetworkACLs(st *stack) (v []string) {
	defaults := st.ofType("aws:ec2/defaultNetworkAcl:DefaultNetworkAcl")
	if len(defaults) != 1 {
		v = append(v, fmt.Sprintf("got %d managed default network ACLs, want 1: unmanaged, the VPC's default ACL allows all inbound traffic from 0.0.0.0/0", len(defaults)))
	}
	type entry struct {
		owner string
		rule  any
	}
	var entries []entry
	for _, typ := range []string{"aws:ec2/defaultNetworkAcl:DefaultNetworkAcl", "aws:ec2/networkAcl:NetworkAcl"} {
		for _, acl := range st.ofType(typ) {
			for _, rule := range asSlice(acl.Inputs["ingress"]) {
				entries = append(entries, entry{acl.Name, rule})
			}
		}
	}
	for _, r := range st.ofType("aws:ec2/networkAclRule:NetworkAclRule") {
		if r.Inputs["egress"] != true {
			rule := map[string]any{}
			for k, val := range r.Inputs {
				rule[k] = val
			}
			rule["action"] = r.Inputs["ruleAction"]
			entries = append(entries, entry{r.Name, rule})
		}
	}
	for _, e := range entries {
		if !strings.EqualFold(fmt.Sprint(dig(e.rule, "action")), "allow") ||
			(dig(e.rule, "cidrBlock") != "0.0.0.0/0" && dig(e.rule, "ipv6CidrBlock") != "::/0") {
			continue
		}
		protocol := strings.ToLower(fmt.Sprint(dig(e.rule, "protocol")))
		allPorts := protocol == "-1" || protocol == "all"
		if !allPorts && !slices.Contains([]string{"6", "tcp", "17", "udp"}, protocol) {
			continue
		}
		for _, port := range []float64{22, 3389} {
			if allPorts || (num(dig(e.rule, "fromPort")) <= port && port <= num(dig(e.rule, "toPort"))) {
				v = append(v, fmt.Sprintf("%s: allows %s port %v from anywhere", e.owner, protocol, port))
			}
		}
	}
	return v
}

// unrotatedSecrets returns the secrets that do not rotate automatically, or,
// with maxDays > 0, not at least every maxDays days.
//
// The database password is the secret RDS creates for
// manageMasterUserPassword; RDS rotates it every 7 days unless a
// SecretRotation says otherwise ("Password management with Amazon RDS and
// AWS Secrets Manager", Amazon RDS user guide). Every other secret is one
// the program creates, and rotates only with an
// aws.secretsmanager.SecretRotation.
func unrotatedSecrets(t reporter, st *stack, maxDays float64) (v []string) {
	t.Helper()
	rotations := map[string]recorded{}
	for _, r := range st.ofType("aws:secretsmanager/secretRotation:SecretRotation") {
		rotations[fmt.Sprint(r.Inputs["secretId"])] = r
	}
	tooRare := func(name string, rotation recorded) {
		days := num(dig(rotation.Inputs, "rotationRules", "automaticallyAfterDays"))
		schedule := dig(rotation.Inputs, "rotationRules", "scheduleExpression")
		switch {
		case days == 0 && schedule == nil:
			v = append(v, fmt.Sprintf("%s: got rotation rules %v, want a schedule", name, rotation.Inputs["rotationRules"]))
		case maxDays > 0 && (schedule != nil || days > maxDays):
			// A schedule expression is not parsed here, so it does not
			// count as rotating often enough.
			v = append(v, fmt.Sprintf("%s: got rotation rules %v, want automaticallyAfterDays <= %v", name, rotation.Inputs["rotationRules"], maxDays))
		}
	}

	db := st.one(t, "aws:rds/instance:Instance", "database")
	if db.Inputs["manageMasterUserPassword"] != true || db.Inputs["password"] != nil {
		v = append(v, fmt.Sprintf("database: got manageMasterUserPassword %v password %v, want RDS-managed only, which RDS rotates",
			db.Inputs["manageMasterUserPassword"], db.Inputs["password"]))
	}
	dbSecret := fmt.Sprint(dig(db.Outputs, "masterUserSecrets", "0", "secretArn"))
	if rotation, ok := rotations[dbSecret]; ok {
		tooRare("database master secret", rotation)
	}

	for _, s := range st.ofType("aws:secretsmanager/secret:Secret") {
		rotation, ok := rotations[fmt.Sprint(s.Outputs["arn"])]
		if !ok {
			v = append(v, fmt.Sprintf("%s: no SecretRotation, want automatic rotation", s.Name))
			continue
		}
		tooRare(s.Name, rotation)
	}
	return v
}

// containers returns every container definition of a service's task: the
// app, first, and with telemetry the collector.
func containers(t reporter, st *stack, service string) []containerDefinition {
	t.Helper()
	task := st.one(t, "aws:ecs/taskDefinition:TaskDefinition", service)
	var defs []containerDefinition
	if err := json.Unmarshal([]byte(fmt.Sprint(task.Inputs["containerDefinitions"])), &defs); err != nil {
		t.Fatalf("%s: container definitions: %v", service, err)
	}
	if len(defs) == 0 || defs[0].Name != service {
		t.Fatalf("%s: got %d containers, want the app's first", service, len(defs))
	}
	return defs
}

// container returns the app's container definition.
func container(t reporter, st *stack, service string) containerDefinition {
	t.Helper()
	return containers(t, st, service)[0]
}

func envMap(c containerDefinition) map[string]string {
	out := map[string]string{}
	for _, kv := range c.Environment {
		out[kv.Name] = kv.Value
	}
	return out
}

type policyStatement struct {
	Sid       string
	Effect    string
	Principal any
	Action    any
	Resource  any
	Condition map[string]map[string]any
}

// strs reads an IAM field that may be a string or a list of strings.
func strs(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		return asStrings(v)
	}
	return nil
}

// policies returns every policy document in the stack, parsed, by owner.
func policies(t reporter, st *stack) map[string][]policyStatement {
	t.Helper()
	out := map[string][]policyStatement{}
	add := func(owner string, raw any) {
		if raw == nil {
			return
		}
		var doc struct {
			Version   string
			Statement []policyStatement
		}
		if err := json.Unmarshal([]byte(fmt.Sprint(raw)), &doc); err != nil {
			t.Errorf("%s: policy is not JSON: %v", owner, err)
			return
		}
		if doc.Version != "2012-10-17" || len(doc.Statement) == 0 {
			t.Errorf("%s: got version %q with %d statements, want 2012-10-17 and some", owner, doc.Version, len(doc.Statement))
		}
		out[owner] = append(out[owner], doc.Statement...)
	}
	for _, r := range st.resources {
		if r.Type == "aws:ecr/lifecyclePolicy:LifecyclePolicy" {
			continue // an ECR lifecycle policy, not an IAM document
		}
		owner := r.Type + " " + r.Name
		add(owner, r.Inputs["policy"])
		add(owner, r.Inputs["assumeRolePolicy"])
		for _, inline := range asSlice(r.Inputs["inlinePolicies"]) {
			add(owner, dig(inline, "policy"))
		}
	}
	return out
}
