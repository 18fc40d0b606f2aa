package main

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"
)

// setting is a project config key's default and Pulumi.yaml type.
type setting struct {
	Default string
	Type    string // integer, boolean or string
}

// settings declares every project config key that has a default. Pulumi
// applies the defaults in Pulumi.yaml only when the CLI runs the program; unit
// tests run it without the CLI, so the program carries the same table.
// TestPulumiYAMLMatchesDefaults keeps the two in step.
var settings = map[string]setting{
	// Network.
	"availabilityZones":         {"2", "integer"},
	"vpcCidr":                   {"10.0.0.0/16", "string"},
	"natGateways":               {"Single", "string"},
	"natInstanceType":           {"t4g.nano", "string"},
	"flowLogAggregationSeconds": {"60", "integer"},
	"flowLogTrafficType":        {"ALL", "string"},
	// Load balancer.
	"certificateArn":          {"", "string"},
	"sslPolicy":               {"ELBSecurityPolicy-TLS13-1-2-2021-06", "string"},
	"albDeletionProtection":   {"false", "boolean"},
	"desyncMitigationMode":    {"defensive", "string"},
	"accessLogExpirationDays": {"30", "integer"},
	// Tasks.
	"platform":                      {"linux/amd64", "string"},
	"cpu":                           {"256", "integer"},
	"memory":                        {"512", "integer"},
	"minTasks":                      {"1", "integer"},
	"maxTasks":                      {"2", "integer"},
	"fargateBase":                   {"0", "integer"},
	"fargateWeight":                 {"1", "integer"},
	"fargateSpotWeight":             {"0", "integer"},
	"cpuTargetPercent":              {"60", "integer"},
	"requestsPerTarget":             {"500", "integer"},
	"healthCheckGracePeriodSeconds": {"30", "integer"},
	"enableExecuteCommand":          {"false", "boolean"},
	"logLevel":                      {"info", "string"},
	"activeHours":                   {"", "string"},
	"activeTimezone":                {"UTC", "string"},
	"logRetentionDays":              {"7", "integer"},
	"containerInsights":             {"enabled", "string"},
	"forceDestroy":                  {"false", "boolean"},
	"demoData":                      {"false", "boolean"},
	// Observability.
	"telemetry":         {"enabled", "string"},
	"traceSampleRatio":  {"0.1", "string"},
	"dashboard":         {"true", "boolean"},
	"p99LatencyAlarmMs": {"1000", "integer"},
	// Events.
	"eventAgeAlarmSeconds": {"300", "integer"},
	// Database.
	"dbEngineVersion":       {"17", "string"},
	"dbInstanceClass":       {"db.t4g.micro", "string"},
	"dbAllocatedStorage":    {"20", "integer"},
	"dbMaxAllocatedStorage": {"100", "integer"},
	"dbBackupRetentionDays": {"7", "integer"},
	"dbMultiAz":             {"false", "boolean"},
	"dbDeletionProtection":  {"false", "boolean"},
	"dbFinalSnapshot":       {"false", "boolean"},
	"dbIamAuth":             {"false", "boolean"},
	"dbName":                {"shop", "string"},
}

// Config is the whole stack configuration, typed and validated once.
type Config struct {
	Project, Stack string
	Region         string

	AvailabilityZones int
	VpcCidr           string
	NatGateways       string // "Single", "OnePerAz" or "Instance"
	// NatInstanceType is the EC2 type of the NAT instance (natGateways
	// Instance): a Graviton type, since the instance runs the arm64 AMI.
	NatInstanceType string
	// FlowLogAggregationSeconds is how long the VPC flow log gathers a
	// flow's packets into one record: 60 or 600.
	FlowLogAggregationSeconds int
	// FlowLogTrafficType is ALL or REJECT: the flows the VPC flow log records.
	FlowLogTrafficType string

	CertificateArn          string // empty: plain HTTP listener only
	SslPolicy               string
	AlbDeletionProtection   bool
	DesyncMitigationMode    string
	AccessLogExpirationDays int

	Platform                      string // linux/amd64 or linux/arm64
	CPU, Memory                   int
	MinTasks, MaxTasks            int
	FargateBase                   int
	FargateWeight                 int
	FargateSpotWeight             int
	CPUTargetPercent              int
	RequestsPerTarget             int
	HealthCheckGracePeriodSeconds int
	EnableExecuteCommand          bool
	LogLevel                      string
	LogRetentionDays              int
	ContainerInsights             string // enhanced, enabled or disabled
	ForceDestroy                  bool
	// ActiveHours ("Mon-Fri 07:00-20:00", in ActiveTimezone) are when the
	// services run; empty, always. Active is it parsed: nil when empty.
	ActiveHours, ActiveTimezone string
	Active                      *window
	// DemoData has catalog load the demo products (DEMO_DATA=true): dev
	// stacks only; production fills its catalog through the admin API.
	DemoData bool

	// Telemetry is "enabled" (an ADOT collector beside every app, traces to
	// X-Ray, the shop's counters to CloudWatch) or "disabled" (none of it:
	// no sidecar, no OTEL_* in the apps' environment, no permissions).
	Telemetry string
	// TraceSampleRatio is the share of new traces the apps record (0..1),
	// as OTEL_TRACES_SAMPLER_ARG.
	TraceSampleRatio float64
	// Dashboard creates the stack's CloudWatch dashboard.
	Dashboard bool
	// P99LatencyAlarmMs is the p99 target response time above which a
	// service's latency alarm fires.
	P99LatencyAlarmMs int

	// EventAgeAlarmSeconds is the age of a queue's oldest message above
	// which the queue's age alarm fires; 0 creates no age alarm (the
	// dead-letter alarm stays).
	EventAgeAlarmSeconds int

	DBEngineVersion       string
	DBInstanceClass       string
	DBAllocatedStorage    int
	DBMaxAllocatedStorage int
	DBBackupRetentionDays int
	DBMultiAZ             bool
	DBDeletionProtection  bool
	DBFinalSnapshot       bool
	DBIAMAuth             bool
	DBName                string

	// AdminToken is the optional secret `adminToken`; when it is not set the
	// program generates one.
	AdminToken    pulumi.StringOutput
	HasAdminToken bool
}

// Autoscales reports whether the services have room to scale. With maxTasks
// equal to minTasks the program registers no target-tracking policies, and so
// none of the four alarms per service they create (nor a scaling target,
// unless the services have active hours).
func (c Config) Autoscales() bool { return c.MaxTasks > c.MinTasks }

// ScalingTarget reports whether Application Auto Scaling, not the stack,
// owns each service's running count: when it autoscales, and when the
// services stop outside their active hours (even with maxTasks equal to
// minTasks, the schedule needs a scalable target to act on).
func (c Config) ScalingTarget() bool { return c.Autoscales() || c.Active != nil }

// Telemetered reports whether the tasks run the ADOT collector and the
// apps export to it.
func (c Config) Telemetered() bool { return c.Telemetry == telemetryEnabled }

// HTTPS reports whether the load balancer terminates TLS.
func (c Config) HTTPS() bool { return c.CertificateArn != "" }

// CPUArchitecture is the ECS runtime platform matching the image platform.
func (c Config) CPUArchitecture() string {
	if c.Platform == "linux/arm64" {
		return "ARM64"
	}
	return "X86_64"
}

// Fargate accepts only these CPU units and, for each, these memory sizes (MiB).
var fargateSizes = map[int][]int{
	256:  {512, 1024, 2048},
	512:  {1024, 2048, 3072, 4096},
	1024: {2048, 3072, 4096, 5120, 6144, 7168, 8192},
	2048: rangeStep(4096, 16384, 1024),
	4096: rangeStep(8192, 30720, 1024),
}

func rangeStep(from, to, step int) []int {
	var out []int
	for v := from; v <= to; v += step {
		out = append(out, v)
	}
	return out
}

// tlsPolicies are the ALB security policies that negotiate TLS 1.2 and 1.3 or
// TLS 1.3 only, from the table in "Security policies for your Application
// Load Balancer" (Elastic Load Balancing user guide). A prefix check is not
// enough: ELBSecurityPolicy-TLS13-1-0-2021-06 and -1-1- also start with
// "TLS13" and still accept TLS 1.0 and 1.1.
var tlsPolicies = []string{
	"ELBSecurityPolicy-TLS13-1-2-2021-06",
	"ELBSecurityPolicy-TLS13-1-2-Res-2021-06",
	"ELBSecurityPolicy-TLS13-1-2-Ext1-2021-06",
	"ELBSecurityPolicy-TLS13-1-2-Ext2-2021-06",
	"ELBSecurityPolicy-TLS13-1-3-2021-06",
	"ELBSecurityPolicy-TLS13-1-2-FIPS-2023-04",
	"ELBSecurityPolicy-TLS13-1-2-Res-FIPS-2023-04",
	"ELBSecurityPolicy-TLS13-1-2-Ext0-FIPS-2023-04",
	"ELBSecurityPolicy-TLS13-1-2-Ext1-FIPS-2023-04",
	"ELBSecurityPolicy-TLS13-1-2-Ext2-FIPS-2023-04",
	"ELBSecurityPolicy-TLS13-1-3-FIPS-2023-04",
	"ELBSecurityPolicy-TLS13-1-2-PQ-2025-09",
	"ELBSecurityPolicy-TLS13-1-2-Res-PQ-2025-09",
	"ELBSecurityPolicy-TLS13-1-2-Ext1-PQ-2025-09",
	"ELBSecurityPolicy-TLS13-1-2-Ext2-PQ-2025-09",
	"ELBSecurityPolicy-TLS13-1-3-PQ-2025-09",
	"ELBSecurityPolicy-TLS13-1-2-FIPS-PQ-2025-09",
	"ELBSecurityPolicy-TLS13-1-2-Res-FIPS-PQ-2025-09",
	"ELBSecurityPolicy-TLS13-1-2-Ext0-FIPS-PQ-2025-09",
	"ELBSecurityPolicy-TLS13-1-2-Ext1-FIPS-PQ-2025-09",
	"ELBSecurityPolicy-TLS13-1-2-Ext2-FIPS-PQ-2025-09",
	"ELBSecurityPolicy-TLS13-1-3-FIPS-PQ-2025-09",
}

// The values of natGateways: awsx's Single and OnePerAz NAT gateway
// strategies, or one NAT instance the program runs itself.
const (
	natSingle   = "Single"
	natOnePerAz = "OnePerAz"
	natInstance = "Instance"
)

// graviton matches the EC2 instance types with an AWS Graviton (arm64)
// processor: a1, and the families whose attribute letters after the
// generation start with g (t4g, m7g, c7gn, r6gd, im4gn, is4gen, g5g). x86
// families put other letters there (m7i, c6a, g4dn) or none (t3, m5).
var graviton = regexp.MustCompile(`^(a1|[a-z]+[0-9]g[a-z-]*)\.[a-z0-9]+$`)

var rdsIdentifier = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)

// CloudWatch Logs accepts only these retention periods (days).
var logRetentions = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

// loadConfig reads every key, then reports every problem at once so a
// misconfigured stack is fixed in one round trip rather than one per key.
func loadConfig(ctx *pulumi.Context) (Config, error) {
	project := config.New(ctx, "")
	r := reader{cfg: project}
	c := Config{
		Project: ctx.Project(),
		Stack:   ctx.Stack(),
		// An explicit provider does not read aws:region by itself, so the
		// program passes it on; it is required rather than guessed.
		Region: config.New(ctx, "aws").Get("region"),

		AvailabilityZones:         r.int("availabilityZones"),
		VpcCidr:                   r.str("vpcCidr"),
		NatGateways:               r.str("natGateways"),
		NatInstanceType:           r.str("natInstanceType"),
		FlowLogAggregationSeconds: r.int("flowLogAggregationSeconds"),
		FlowLogTrafficType:        r.str("flowLogTrafficType"),

		CertificateArn:          r.str("certificateArn"),
		SslPolicy:               r.str("sslPolicy"),
		AlbDeletionProtection:   r.bool("albDeletionProtection"),
		DesyncMitigationMode:    r.str("desyncMitigationMode"),
		AccessLogExpirationDays: r.int("accessLogExpirationDays"),

		Platform:                      r.str("platform"),
		CPU:                           r.int("cpu"),
		Memory:                        r.int("memory"),
		MinTasks:                      r.int("minTasks"),
		MaxTasks:                      r.int("maxTasks"),
		FargateBase:                   r.int("fargateBase"),
		FargateWeight:                 r.int("fargateWeight"),
		FargateSpotWeight:             r.int("fargateSpotWeight"),
		CPUTargetPercent:              r.int("cpuTargetPercent"),
		RequestsPerTarget:             r.int("requestsPerTarget"),
		HealthCheckGracePeriodSeconds: r.int("healthCheckGracePeriodSeconds"),
		EnableExecuteCommand:          r.bool("enableExecuteCommand"),
		LogLevel:                      r.str("logLevel"),
		LogRetentionDays:              r.int("logRetentionDays"),
		ActiveHours:                   r.str("activeHours"),
		ActiveTimezone:                r.str("activeTimezone"),
		ContainerInsights:             r.str("containerInsights"),
		ForceDestroy:                  r.bool("forceDestroy"),
		DemoData:                      r.bool("demoData"),
		Telemetry:                     r.str("telemetry"),
		TraceSampleRatio:              r.ratio("traceSampleRatio"),
		Dashboard:                     r.bool("dashboard"),
		P99LatencyAlarmMs:             r.int("p99LatencyAlarmMs"),
		EventAgeAlarmSeconds:          r.int("eventAgeAlarmSeconds"),

		DBEngineVersion:       r.str("dbEngineVersion"),
		DBInstanceClass:       r.str("dbInstanceClass"),
		DBAllocatedStorage:    r.int("dbAllocatedStorage"),
		DBMaxAllocatedStorage: r.int("dbMaxAllocatedStorage"),
		DBBackupRetentionDays: r.int("dbBackupRetentionDays"),
		DBMultiAZ:             r.bool("dbMultiAz"),
		DBDeletionProtection:  r.bool("dbDeletionProtection"),
		DBFinalSnapshot:       r.bool("dbFinalSnapshot"),
		DBIAMAuth:             r.bool("dbIamAuth"),
		DBName:                r.str("dbName"),
	}
	errs := append(r.errs, c.validate(r.failed)...)
	if c.ActiveHours != "" {
		// validate reports a value that does not parse.
		if w, err := parseWindow(c.ActiveHours, c.ActiveTimezone); err == nil {
			c.Active = &w
		}
	}
	if project.Get("adminToken") != "" {
		// A plain-text token would sit unencrypted in Pulumi.<stack>.yaml.
		if !ctx.IsConfigSecret(ctx.Project() + ":adminToken") {
			errs = append(errs, errors.New("adminToken: set it with `pulumi config set --secret adminToken ...`"))
		}
		c.AdminToken = project.GetSecret("adminToken")
		c.HasAdminToken = true
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("invalid stack configuration:\n%w", errors.Join(errs...))
	}
	return c, nil
}

// validate checks the values against what AWS will accept, so mistakes surface
// in `pulumi preview` instead of halfway through `pulumi up`.
//
// failed names the keys whose values did not parse (already reported): a
// check of two keys then checks only the other one, so a bad value is one
// problem and nothing about the second key is lost.
func (c Config) validate(failed map[string]bool) []error {
	var errs []error
	check := func(ok bool, format string, args ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	check(c.Region != "", "aws:region: required (pulumi config set aws:region us-east-1)")
	check(c.AvailabilityZones >= 2 && c.AvailabilityZones <= 6,
		"availabilityZones: got %d, want 2..6 (an ALB needs two zones)", c.AvailabilityZones)
	prefix, err := netip.ParsePrefix(c.VpcCidr)
	check(err == nil && prefix.Addr().Is4() && prefix.Bits() >= 16 && prefix.Bits() <= 20,
		"vpcCidr: got %q, want an IPv4 CIDR from /16 to /20", c.VpcCidr)
	check(slices.Contains([]string{natSingle, natOnePerAz, natInstance}, c.NatGateways),
		"natGateways: got %q, want Single, OnePerAz or Instance", c.NatGateways)
	check(c.NatGateways != natInstance || graviton.MatchString(c.NatInstanceType),
		"natInstanceType: got %q, want a Graviton (arm64) instance type such as t4g.nano: the NAT instance runs the arm64 Amazon Linux 2023 AMI",
		c.NatInstanceType)
	check(c.FlowLogAggregationSeconds == 60 || c.FlowLogAggregationSeconds == 600,
		"flowLogAggregationSeconds: got %d, want 60 or 600 (the only intervals VPC flow logs offer)", c.FlowLogAggregationSeconds)
	// ACCEPT is left out: a log without the refused flows is not the one
	// FSBP EC2.6 asks for.
	check(c.FlowLogTrafficType == "ALL" || c.FlowLogTrafficType == "REJECT",
		"flowLogTrafficType: got %q, want ALL or REJECT", c.FlowLogTrafficType)
	check(slices.Contains([]string{"enhanced", "enabled", "disabled"}, c.ContainerInsights),
		"containerInsights: got %q, want enhanced, enabled or disabled", c.ContainerInsights)
	check(c.CertificateArn == "" || strings.HasPrefix(c.CertificateArn, "arn:"),
		"certificateArn: got %q, want an ACM certificate ARN or empty", c.CertificateArn)
	check(slices.Contains(tlsPolicies, c.SslPolicy),
		"sslPolicy: got %q, want one of the policies that refuse TLS 1.0 and 1.1: %s",
		c.SslPolicy, strings.Join(tlsPolicies, ", "))
	check(c.DesyncMitigationMode == "defensive" || c.DesyncMitigationMode == "strictest",
		"desyncMitigationMode: got %q, want defensive or strictest", c.DesyncMitigationMode)
	check(c.AccessLogExpirationDays >= 1, "accessLogExpirationDays: got %d, want >= 1", c.AccessLogExpirationDays)
	check(c.Platform == "linux/amd64" || c.Platform == "linux/arm64",
		"platform: got %q, want linux/amd64 or linux/arm64", c.Platform)
	switch mems, ok := fargateSizes[c.CPU]; {
	case failed["cpu"] && failed["memory"]:
	case failed["cpu"]:
		check(slices.ContainsFunc(slices.Collect(maps.Values(fargateSizes)), func(m []int) bool { return slices.Contains(m, c.Memory) }),
			"memory: got %d, which no Fargate CPU size offers", c.Memory)
	case failed["memory"]:
		check(ok, "cpu: got %d, want one of Fargate's sizes (256, 512, 1024, 2048, 4096)", c.CPU)
	default:
		check(ok && slices.Contains(mems, c.Memory),
			"cpu/memory: got %d/%d, not a Fargate size (e.g. 256/512, 512/1024, 1024/2048)", c.CPU, c.Memory)
	}
	switch {
	case failed["minTasks"] && failed["maxTasks"]:
	case failed["minTasks"]:
		check(c.MaxTasks >= 1, "maxTasks: got %d, want >= 1", c.MaxTasks)
	case failed["maxTasks"]:
		check(c.MinTasks >= 1, "minTasks: got %d, want >= 1", c.MinTasks)
	default:
		check(c.MinTasks >= 1 && c.MinTasks <= c.MaxTasks,
			"minTasks/maxTasks: got %d/%d, want 1 <= minTasks <= maxTasks", c.MinTasks, c.MaxTasks)
	}
	for _, w := range []struct {
		key string
		v   int
	}{{"fargateBase", c.FargateBase}, {"fargateWeight", c.FargateWeight}, {"fargateSpotWeight", c.FargateSpotWeight}} {
		check(failed[w.key] || w.v >= 0, "%s: got %d, must not be negative", w.key, w.v)
	}
	check(failed["fargateWeight"] || failed["fargateSpotWeight"] || c.FargateWeight+c.FargateSpotWeight > 0,
		"fargateWeight + fargateSpotWeight: want > 0")
	check(c.CPUTargetPercent >= 10 && c.CPUTargetPercent <= 90,
		"cpuTargetPercent: got %d, want 10..90", c.CPUTargetPercent)
	check(c.RequestsPerTarget >= 1, "requestsPerTarget: got %d, want >= 1", c.RequestsPerTarget)
	check(c.HealthCheckGracePeriodSeconds >= 0 && c.HealthCheckGracePeriodSeconds <= 300,
		"healthCheckGracePeriodSeconds: got %d, want 0..300", c.HealthCheckGracePeriodSeconds)
	check(c.Telemetry == telemetryEnabled || c.Telemetry == telemetryDisabled,
		"telemetry: got %q, want enabled or disabled", c.Telemetry)
	check(failed["traceSampleRatio"] || (c.TraceSampleRatio >= 0 && c.TraceSampleRatio <= 1),
		"traceSampleRatio: got %v, want a fraction from 0 to 1", c.TraceSampleRatio)
	check(c.P99LatencyAlarmMs >= 10 && c.P99LatencyAlarmMs <= 60000,
		"p99LatencyAlarmMs: got %d, want 10..60000 (the ALB's idle timeout is 60 s)", c.P99LatencyAlarmMs)
	// Above the queues' retention a message is gone before it could be
	// that old; below a minute the alarm would fire on the visibility
	// timeout of one failed delivery.
	check(c.EventAgeAlarmSeconds == 0 || (c.EventAgeAlarmSeconds >= 60 && c.EventAgeAlarmSeconds < queueRetentionSeconds),
		"eventAgeAlarmSeconds: got %d, want 0 (no age alarm) or 60..%d (below the queues' 4-day retention)",
		c.EventAgeAlarmSeconds, queueRetentionSeconds-1)
	if c.ActiveHours != "" {
		_, err := parseWindow(c.ActiveHours, c.ActiveTimezone)
		check(err == nil, "activeHours: got %q, %v; or empty to run all the time", c.ActiveHours, err)
	}
	err = checkTimezone(c.ActiveTimezone)
	check(err == nil, "activeTimezone: got %q, %v", c.ActiveTimezone, err)
	check(slices.Contains([]string{"debug", "info", "warn", "error"}, c.LogLevel),
		"logLevel: got %q, want debug, info, warn or error", c.LogLevel)
	check(slices.Contains(logRetentions, c.LogRetentionDays),
		"logRetentionDays: got %d, want one of %v", c.LogRetentionDays, logRetentions)
	check(c.DBEngineVersion != "" && strings.Split(c.DBEngineVersion, ".")[0] != "",
		"dbEngineVersion: required")
	check(strings.HasPrefix(c.DBInstanceClass, "db."), "dbInstanceClass: got %q, want db.*", c.DBInstanceClass)
	switch {
	case failed["dbAllocatedStorage"] && failed["dbMaxAllocatedStorage"]:
	case failed["dbAllocatedStorage"]:
		check(c.DBMaxAllocatedStorage >= 20, "dbMaxAllocatedStorage: got %d, want >= 20", c.DBMaxAllocatedStorage)
	case failed["dbMaxAllocatedStorage"]:
		check(c.DBAllocatedStorage >= 20, "dbAllocatedStorage: got %d, want >= 20", c.DBAllocatedStorage)
	default:
		check(c.DBAllocatedStorage >= 20 && c.DBMaxAllocatedStorage >= c.DBAllocatedStorage,
			"dbAllocatedStorage/dbMaxAllocatedStorage: got %d/%d, want 20 <= allocated <= max",
			c.DBAllocatedStorage, c.DBMaxAllocatedStorage)
	}
	// RDS.11 wants automated backups; 0 would switch them off.
	check(c.DBBackupRetentionDays >= 1 && c.DBBackupRetentionDays <= 35,
		"dbBackupRetentionDays: got %d, want 1..35", c.DBBackupRetentionDays)
	check(c.DBName != "", "dbName: required")
	// The instance identifier is <project>-<stack>: RDS wants 1..63
	// letters, digits and single hyphens, starting with a letter.
	id := dbIdentifier(c)
	check(rdsIdentifier.MatchString(id) && !strings.Contains(id, "--") && !strings.HasSuffix(id, "-"),
		"project/stack name: %q is not a valid RDS instance identifier (letters, digits, single hyphens, at most 63, starting with a letter)",
		id)
	return errs
}

// reader reads project config keys, falling back to defaults and collecting
// parse errors instead of stopping at the first.
type reader struct {
	cfg  *config.Config
	errs []error
	// failed are the keys whose values did not parse; validation says
	// nothing more about them (their zero values would only add noise).
	failed map[string]bool
}

// raw returns the configured value or the default, checking that the key is
// read as the type it is declared with.
func (r *reader) raw(key, typ string) string {
	s, ok := settings[key]
	if !ok || s.Type != typ {
		r.errs = append(r.errs, fmt.Errorf("%s: read as %s but declared as %+v (bug in config.go)", key, typ, s))
	}
	if v := r.cfg.Get(key); v != "" {
		return v
	}
	return s.Default
}

func (r *reader) str(key string) string { return r.raw(key, "string") }

func (r *reader) int(key string) int { return parse(r, key, "integer", strconv.Atoi, "an integer") }

// ratio reads a fraction, declared as a string: Pulumi.yaml has no
// floating-point type.
func (r *reader) ratio(key string) float64 {
	return parse(r, key, "string", func(s string) (float64, error) {
		v, err := strconv.ParseFloat(s, 64)
		if err == nil && (math.IsNaN(v) || math.IsInf(v, 0)) {
			err = strconv.ErrSyntax
		}
		return v, err
	}, "a number from 0 to 1")
}

func (r *reader) bool(key string) bool {
	return parse(r, key, "boolean", strconv.ParseBool, "true or false")
}

// parse reads key as typ with conv, recording an error that says what was
// wanted when the value does not convert.
func parse[T any](r *reader, key, typ string, conv func(string) (T, error), want string) T {
	s := r.raw(key, typ)
	v, err := conv(s)
	if err != nil {
		r.errs = append(r.errs, fmt.Errorf("%s: got %q, want %s", key, s, want))
		if r.failed == nil {
			r.failed = map[string]bool{}
		}
		r.failed[key] = true
	}
	return v
}
