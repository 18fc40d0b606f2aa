package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/fargateshop/shop/platform/routing"
)

// control is one AWS Foundational Security Best Practices control (or a
// related requirement) checked against the recorded resources.
type control struct {
	id, title string
	check     func(t *testing.T, sc scenario, st *stack)
}

// controls is the table docs/security.md refers to, by ID.
var controls = []control{
	{"ECS.2", "services do not assign public IPs", func(t *testing.T, sc scenario, st *stack) {
		for _, s := range st.ofType("aws:ecs/service:Service") {
			if got := dig(s.Inputs, "networkConfiguration", "assignPublicIp"); got != false {
				t.Errorf("%s: got assignPublicIp %v, want false", s.Name, got)
			}
		}
	}},
	{"ECS.4", "containers are not privileged", func(t *testing.T, sc scenario, st *stack) {
		for _, s := range routing.Services {
			if c := container(t, st, s.Name); c.Privileged {
				t.Errorf("%s: got privileged true, want false", s.Name)
			}
		}
	}},
	{"ECS.5", "containers have a read-only root filesystem", func(t *testing.T, sc scenario, st *stack) {
		for _, s := range routing.Services {
			if c := container(t, st, s.Name); !c.ReadonlyRootFilesystem {
				t.Errorf("%s: got readonlyRootFilesystem false, want true", s.Name)
			}
		}
	}},
	{"ECS.8", "no secrets in environment variables", func(t *testing.T, sc scenario, st *stack) {
		secretish := regexp.MustCompile(`(?i)(PASSWORD|SECRET|TOKEN|ACCESS_KEY|AUTH_DATA|PRIVATE)`)
		for _, s := range routing.Services {
			c := container(t, st, s.Name)
			for _, kv := range c.Environment {
				if secretish.MatchString(kv.Name) || strings.Contains(kv.Value, "generated-") {
					t.Errorf("%s: got secret-looking environment variable %s=%q, want it in secrets", s.Name, kv.Name, kv.Value)
				}
			}
			for _, ref := range c.Secrets {
				if !strings.HasPrefix(ref.ValueFrom, "arn:aws:secretsmanager:") {
					t.Errorf("%s: secret %s comes from %q, want a Secrets Manager ARN", s.Name, ref.Name, ref.ValueFrom)
				}
			}
		}
	}},
	{"ECS.12", "Container Insights is enabled", func(t *testing.T, sc scenario, st *stack) {
		cluster := st.one(t, "aws:ecs/cluster:Cluster", "cluster")
		if got := dig(cluster.Inputs, "settings", "0"); dig(got, "name") != "containerInsights" ||
			(dig(got, "value") != "enabled" && dig(got, "value") != "enhanced") {
			t.Errorf("got cluster settings %v, want containerInsights enabled", cluster.Inputs["settings"])
		}
	}},
	{"ECS.nonroot", "containers run as a non-root user", func(t *testing.T, sc scenario, st *stack) {
		for _, s := range routing.Services {
			c := container(t, st, s.Name)
			if uid := strings.Split(c.User, ":")[0]; uid == "" || uid == "0" || uid == "root" {
				t.Errorf("%s: got user %q, want a non-root uid", s.Name, c.User)
			}
		}
	}},
	{"ECS.9", "containers log to their own CloudWatch group", func(t *testing.T, sc scenario, st *stack) {
		for _, s := range routing.Services {
			c := container(t, st, s.Name)
			group := st.one(t, "aws:cloudwatch/logGroup:LogGroup", s.Name)
			if c.LogConfiguration.LogDriver != "awslogs" || c.LogConfiguration.Options["awslogs-group"] != group.Outputs["name"] {
				t.Errorf("%s: got logging %+v, want awslogs to %v", s.Name, c.LogConfiguration, group.Outputs["name"])
			}
			if got := fmt.Sprint(group.Inputs["retentionInDays"]); got != sc.value("logRetentionDays") {
				t.Errorf("%s: got retention %s days, want %s", s.Name, got, sc.value("logRetentionDays"))
			}
		}
	}},
	{"ECR.1", "repositories scan images on push", func(t *testing.T, sc scenario, st *stack) {
		for _, r := range st.ofType("aws:ecr/repository:Repository") {
			if got := dig(r.Inputs, "imageScanningConfiguration", "scanOnPush"); got != true {
				t.Errorf("%s: got scanOnPush %v, want true", r.Name, got)
			}
		}
	}},
	{"ECR.2", "repositories have immutable tags", func(t *testing.T, sc scenario, st *stack) {
		for _, r := range st.ofType("aws:ecr/repository:Repository") {
			if got := r.Inputs["imageTagMutability"]; got != "IMMUTABLE" {
				t.Errorf("%s: got tag mutability %v, want IMMUTABLE", r.Name, got)
			}
			if got := r.Inputs["forceDelete"]; got != sc.forceDestroy {
				t.Errorf("%s: got forceDelete %v, want %v", r.Name, got, sc.forceDestroy)
			}
		}
	}},
	{"ECR.3", "every repository has a lifecycle policy", func(t *testing.T, sc scenario, st *stack) {
		for _, r := range st.ofType("aws:ecr/repository:Repository") {
			policies := st.where("aws:ecr/lifecyclePolicy:LifecyclePolicy", "repository", r.Outputs["name"])
			if len(policies) != 1 || !strings.Contains(fmt.Sprint(policies[0].Inputs["policy"]), `"type":"expire"`) {
				t.Errorf("%s: got lifecycle policies %v, want one that expires images", r.Name, policies)
			}
		}
	}},
	{"ELB.1", "HTTP redirects to HTTPS when a certificate is set", func(t *testing.T, sc scenario, st *stack) {
		http := st.one(t, "aws:lb/listener:Listener", "loadbalancer-http")
		action := dig(http.Inputs, "defaultActions", "0")
		if !sc.https {
			if dig(action, "type") != "forward" || len(st.ofType("aws:lb/listener:Listener")) != 1 {
				t.Errorf("without a certificate: got HTTP action %v, want a single forwarding HTTP listener", action)
			}
			return
		}
		if dig(action, "type") != "redirect" || dig(action, "redirect", "protocol") != "HTTPS" || dig(action, "redirect", "statusCode") != "HTTP_301" {
			t.Errorf("got HTTP default action %v, want a 301 redirect to HTTPS", action)
		}
		https := st.one(t, "aws:lb/listener:Listener", "loadbalancer-https")
		if https.Inputs["protocol"] != "HTTPS" || !strings.HasPrefix(fmt.Sprint(https.Inputs["sslPolicy"]), "ELBSecurityPolicy-TLS13-") ||
			https.Inputs["certificateArn"] != sc.config["shop:certificateArn"] {
			t.Errorf("got HTTPS listener %v, want TLS 1.3 policy and the configured certificate", https.Inputs)
		}
	}},
	{"ELB.4", "invalid header fields are dropped", func(t *testing.T, sc scenario, st *stack) {
		if got := st.one(t, "aws:lb/loadBalancer:LoadBalancer", "loadbalancer").Inputs["dropInvalidHeaderFields"]; got != true {
			t.Errorf("got dropInvalidHeaderFields %v, want true", got)
		}
	}},
	{"ELB.5", "access logs go to an encrypted, private, expiring bucket", func(t *testing.T, sc scenario, st *stack) {
		alb := st.one(t, "aws:lb/loadBalancer:LoadBalancer", "loadbalancer")
		bucket := st.one(t, "aws:s3/bucketV2:BucketV2", "loadbalancer-logs")
		if logs := asMap(alb.Inputs["accessLogs"]); logs["enabled"] != true || logs["bucket"] != bucket.Outputs["bucket"] {
			t.Errorf("got access logs %v, want enabled into %v", logs, bucket.Outputs["bucket"])
		}
		id := bucket.Outputs["bucket"]
		sse := st.where("aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2", "bucket", id)
		if len(sse) != 1 || dig(sse[0].Inputs, "rules", "0", "applyServerSideEncryptionByDefault", "sseAlgorithm") != "AES256" {
			t.Errorf("got encryption %v, want SSE-S3", sse)
		}
		pab := st.where("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "bucket", id)
		for _, key := range []string{"blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"} {
			if len(pab) != 1 || pab[0].Inputs[key] != true {
				t.Errorf("got public access block %v, want %s true", pab, key)
			}
		}
		lc := st.where("aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2", "bucket", id)
		if len(lc) != 1 || fmt.Sprint(dig(lc[0].Inputs, "rules", "0", "expiration", "days")) != sc.value("accessLogExpirationDays") {
			t.Errorf("got lifecycle %v, want expiry after %s days", lc, sc.value("accessLogExpirationDays"))
		}
		policy := st.where("aws:s3/bucketPolicy:BucketPolicy", "bucket", id)
		if len(policy) != 1 || !strings.Contains(fmt.Sprint(policy[0].Inputs["policy"]), "logdelivery.elasticloadbalancing.amazonaws.com") {
			t.Errorf("got bucket policy %v, want ELB log delivery allowed", policy)
		}
	}},
	{"ELB.6", "deletion protection in production", func(t *testing.T, sc scenario, st *stack) {
		if got := st.one(t, "aws:lb/loadBalancer:LoadBalancer", "loadbalancer").Inputs["enableDeletionProtection"]; got != sc.production {
			t.Errorf("got enableDeletionProtection %v, want %v", got, sc.production)
		}
	}},
	{"ELB.12", "desync mitigation is defensive or strictest", func(t *testing.T, sc scenario, st *stack) {
		got := st.one(t, "aws:lb/loadBalancer:LoadBalancer", "loadbalancer").Inputs["desyncMitigationMode"]
		if got != "defensive" && got != "strictest" {
			t.Errorf("got desyncMitigationMode %v, want defensive or strictest", got)
		}
	}},
	{"ELB.13", "the ALB spans at least two zones", func(t *testing.T, sc scenario, st *stack) {
		alb := st.one(t, "aws:lb/loadBalancer:LoadBalancer", "loadbalancer")
		vpc := st.one(t, "awsx:ec2:Vpc", "network")
		subnets := asStrings(alb.Inputs["subnets"])
		if len(subnets) < 2 || fmt.Sprint(subnets) != fmt.Sprint(asStrings(vpc.Outputs["publicSubnetIds"])) {
			t.Errorf("got ALB subnets %v, want the %d public subnets %v", subnets, sc.zones, vpc.Outputs["publicSubnetIds"])
		}
		zones := map[string]bool{}
		for _, z := range asStrings(vpc.Inputs["availabilityZoneNames"]) {
			zones[z] = true
		}
		if len(zones) < 2 {
			t.Errorf("got VPC zones %v, want at least two distinct", vpc.Inputs["availabilityZoneNames"])
		}
		if alb.Inputs["internal"] != false || alb.Inputs["loadBalancerType"] != "application" {
			t.Errorf("got internal=%v type=%v, want a public application load balancer", alb.Inputs["internal"], alb.Inputs["loadBalancerType"])
		}
	}},
	{"EC2.2", "the default security group has no rules", func(t *testing.T, sc scenario, st *stack) {
		groups := st.ofType("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup")
		vpc := st.one(t, "awsx:ec2:Vpc", "network")
		if len(groups) != 1 || groups[0].Inputs["vpcId"] != vpc.Outputs["vpcId"] {
			t.Fatalf("got default security groups %v, want one for the VPC", groups)
		}
		if len(asSlice(groups[0].Inputs["ingress"])) != 0 || len(asSlice(groups[0].Inputs["egress"])) != 0 {
			t.Errorf("got default security group rules %v / %v, want none", groups[0].Inputs["ingress"], groups[0].Inputs["egress"])
		}
	}},
	{"EC2.6", "VPC flow logs go to CloudWatch", func(t *testing.T, sc scenario, st *stack) {
		vpc := st.one(t, "awsx:ec2:Vpc", "network")
		group := st.one(t, "aws:cloudwatch/logGroup:LogGroup", "network-flow-logs")
		logs := st.where("aws:ec2/flowLog:FlowLog", "vpcId", vpc.Outputs["vpcId"])
		if len(logs) != 1 || logs[0].Inputs["trafficType"] != "ALL" || logs[0].Inputs["logDestination"] != group.Outputs["arn"] {
			t.Errorf("got flow logs %v, want ALL traffic to %v", logs, group.Outputs["arn"])
		}
		if num(group.Inputs["retentionInDays"]) < 1 {
			t.Errorf("got flow log retention %v, want a limit", group.Inputs["retentionInDays"])
		}
	}},
	{"EC2.18", "only 80 and 443 are open to the internet", func(t *testing.T, sc scenario, st *stack) {
		for _, r := range unrestrictedIngress(t, st) {
			from, to := num(r.Inputs["fromPort"]), num(r.Inputs["toPort"])
			if from != to || (from != 80 && from != 443) {
				t.Errorf("%s: got %v-%v open to the internet, want only 80 or 443", r.Name, from, to)
			}
		}
	}},
	{"EC2.19", "no high-risk port is open to the internet", func(t *testing.T, sc scenario, st *stack) {
		highRisk := []float64{20, 21, 22, 23, 25, 110, 135, 143, 445, 1433, 1434, 3000, 3306, 3389, 4333, 5000, 5432, 5500, 5601, 8080, 8088, 8888, 9200, 9300}
		for _, r := range unrestrictedIngress(t, st) {
			if r.Inputs["ipProtocol"] == "-1" {
				t.Errorf("%s: all protocols open to the internet", r.Name)
			}
			for _, p := range highRisk {
				if num(r.Inputs["fromPort"]) <= p && p <= num(r.Inputs["toPort"]) {
					t.Errorf("%s: high-risk port %v open to the internet", r.Name, p)
				}
			}
		}
	}},
	{"RDS.2", "the database is not public", func(t *testing.T, sc scenario, st *stack) {
		if got := st.one(t, "aws:rds/instance:Instance", "database").Inputs["publiclyAccessible"]; got != false {
			t.Errorf("got publiclyAccessible %v, want false", got)
		}
	}},
	{"RDS.3", "storage is encrypted", func(t *testing.T, sc scenario, st *stack) {
		if got := st.one(t, "aws:rds/instance:Instance", "database").Inputs["storageEncrypted"]; got != true {
			t.Errorf("got storageEncrypted %v, want true", got)
		}
	}},
	{"RDS.7", "deletion protection, Multi-AZ and a final snapshot in production", func(t *testing.T, sc scenario, st *stack) {
		db := st.one(t, "aws:rds/instance:Instance", "database")
		for _, key := range []string{"deletionProtection", "multiAz"} {
			if got := db.Inputs[key]; got != sc.production {
				t.Errorf("got %s %v, want %v", key, got, sc.production)
			}
		}
		if got := db.Inputs["skipFinalSnapshot"]; got != !sc.production {
			t.Errorf("got skipFinalSnapshot %v, want %v", got, !sc.production)
		}
	}},
	{"RDS.11", "automated backups are kept", func(t *testing.T, sc scenario, st *stack) {
		if got := num(st.one(t, "aws:rds/instance:Instance", "database").Inputs["backupRetentionPeriod"]); got < float64(sc.minBackups) {
			t.Errorf("got backup retention %v days, want at least %d", got, sc.minBackups)
		}
	}},
	{"RDS.13", "minor versions upgrade automatically", func(t *testing.T, sc scenario, st *stack) {
		if got := st.one(t, "aws:rds/instance:Instance", "database").Inputs["autoMinorVersionUpgrade"]; got != true {
			t.Errorf("got autoMinorVersionUpgrade %v, want true", got)
		}
	}},
	{"RDS.tls", "the database refuses unencrypted connections and keeps its password in Secrets Manager", func(t *testing.T, sc scenario, st *stack) {
		db := st.one(t, "aws:rds/instance:Instance", "database")
		params := st.one(t, "aws:rds/parameterGroup:ParameterGroup", "database")
		if db.Inputs["parameterGroupName"] != params.Outputs["name"] || params.Inputs["family"] != "postgres17" {
			t.Errorf("got parameter group %v (family %v), want the postgres17 group", db.Inputs["parameterGroupName"], params.Inputs["family"])
		}
		if p := dig(params.Inputs, "parameters", "0"); dig(p, "name") != "rds.force_ssl" || dig(p, "value") != "1" {
			t.Errorf("got parameters %v, want rds.force_ssl=1", params.Inputs["parameters"])
		}
		if db.Inputs["manageMasterUserPassword"] != true || db.Inputs["password"] != nil {
			t.Errorf("got manageMasterUserPassword %v password %v, want RDS-managed only", db.Inputs["manageMasterUserPassword"], db.Inputs["password"])
		}
		if got := asStrings(db.Inputs["enabledCloudwatchLogsExports"]); len(got) == 0 || got[0] != "postgresql" {
			t.Errorf("got log exports %v, want postgresql", got)
		}
		if db.Inputs["copyTagsToSnapshot"] != true || db.Inputs["engineVersion"] != "17" {
			t.Errorf("got copyTagsToSnapshot %v engineVersion %v, want true and 17", db.Inputs["copyTagsToSnapshot"], db.Inputs["engineVersion"])
		}
	}},
}

// unrestrictedIngress returns every inbound rule open to any address, and
// fails on inline rules, which would escape the check.
func unrestrictedIngress(t *testing.T, st *stack) []recorded {
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

func TestSecurityControls(t *testing.T) {
	for _, sc := range scenarios(t) {
		t.Run(sc.name, func(t *testing.T) {
			st := sc.run(t)
			for _, c := range controls {
				t.Run(c.id, func(t *testing.T) { c.check(t, sc, st) })
			}
		})
	}
}

// TestRolesReadOnlyTheirSecrets proves each role may read exactly the secrets
// its task uses: the execution role those ECS injects at start (the task
// definition's secrets), the task role those the app fetches itself (named
// by *_SECRET_ARN variables), and no other role any secret.
func TestRolesReadOnlyTheirSecrets(t *testing.T) {
	forEach(t, func(t *testing.T, sc scenario, st *stack) {
		docs := policies(t, st)
		readers := map[string][]string{} // policy owner -> secrets it may read
		for owner, statements := range docs {
			for _, stmt := range statements {
				if stmt.Effect == "Allow" && slices.Contains(strs(stmt.Action), "secretsmanager:GetSecretValue") {
					readers[owner] = append(readers[owner], strs(stmt.Resource)...)
				}
			}
		}
		want := map[string][]string{}
		for _, s := range routing.Services {
			c := container(t, st, s.Name)
			for _, ref := range c.Secrets {
				// <arn>:<json-key>:<stage>:<version> selects part of <arn>.
				arn := ref.ValueFrom
				if parts := strings.Split(arn, ":"); len(parts) > 7 {
					arn = strings.Join(parts[:7], ":")
				}
				want["aws:iam/rolePolicy:RolePolicy "+s.Name+"-execution"] = append(want["aws:iam/rolePolicy:RolePolicy "+s.Name+"-execution"], arn)
			}
			for name, value := range envMap(c) {
				if strings.HasSuffix(name, "_SECRET_ARN") {
					want["aws:iam/rolePolicy:RolePolicy "+s.Name+"-task"] = append(want["aws:iam/rolePolicy:RolePolicy "+s.Name+"-task"], value)
				}
			}
		}
		for _, m := range []map[string][]string{readers, want} {
			for k := range m {
				sort.Strings(m[k])
			}
		}
		if fmt.Sprint(readers) != fmt.Sprint(want) {
			t.Errorf("got secret readers %v,\nwant %v", readers, want)
		}
	})
}

// TestTrustPoliciesNameTheAccount proves every role can be assumed only by an
// AWS service acting for this account (aws:SourceAccount), which keeps
// another account's use of the same service from assuming it.
func TestTrustPoliciesNameTheAccount(t *testing.T) {
	forEach(t, func(t *testing.T, sc scenario, st *stack) {
		roles := st.ofType("aws:iam/role:Role")
		if len(roles) == 0 {
			t.Fatal("got no roles")
		}
		for _, r := range roles {
			var doc struct{ Statement []policyStatement }
			if err := json.Unmarshal([]byte(fmt.Sprint(r.Inputs["assumeRolePolicy"])), &doc); err != nil {
				t.Fatalf("%s: trust policy: %v", r.Name, err)
			}
			for _, stmt := range doc.Statement {
				if got := fmt.Sprint(stmt.Condition["StringEquals"]["aws:SourceAccount"]); got != mockAccount {
					t.Errorf("%s: statement %q has aws:SourceAccount %q, want %s", r.Name, stmt.Sid, got, mockAccount)
				}
			}
		}
	})
}
