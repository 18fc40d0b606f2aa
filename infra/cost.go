package main

import (
	_ "embed"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// The monthly cost of a stack, computed from the resources the program
// registers (under the mock engine) and the unit prices in prices.yaml.
// Every line shows its arithmetic; usage-driven quantities come from named
// assumptions the user can change. Free tiers, Savings Plans, taxes and data
// transfer out to the internet are not counted.

//go:embed prices.yaml
var pricesYAML []byte

// pricesFile is where the price table lives, for error messages.
const pricesFile = "infra/prices.yaml"

// hoursPerMonth is the month AWS pricing pages and the AWS Pricing Calculator
// use: 730 hours (365 days x 24 h / 12).
const hoursPerMonth = 730.0

// daysPerMonth is the same month in days, for log retention.
const daysPerMonth = hoursPerMonth / 24

// price is one unit price of the table.
type price struct {
	Key  string  `yaml:"key"`
	USD  float64 `yaml:"usd"`
	Unit string  `yaml:"unit"`
	// Page is the AWS pricing page the price belongs to.
	Page string `yaml:"page"`
	// Checked names the dated public pages that agreed with the price, or
	// says it was not corroborated.
	Checked string `yaml:"checked"`
}

// priceTable is the prices of one region.
type priceTable struct {
	Region, AsOf, Note string
	Prices             map[string]price
}

// loadPrices returns the embedded price table of a region. A region the
// table lacks is refused by name, never priced with another region's numbers.
func loadPrices(region string) (priceTable, error) {
	return parsePrices(pricesYAML, region)
}

func parsePrices(raw []byte, region string) (priceTable, error) {
	var file struct {
		AsOf    string             `yaml:"asOf"`
		Note    string             `yaml:"note"`
		Regions map[string][]price `yaml:"regions"`
	}
	if err := yaml.Unmarshal(raw, &file); err != nil {
		return priceTable{}, fmt.Errorf("%s: %w", pricesFile, err)
	}
	list, ok := file.Regions[region]
	if !ok {
		var known []string
		for r := range file.Regions {
			known = append(known, r)
		}
		slices.Sort(known)
		return priceTable{}, fmt.Errorf("%s has no prices for region %q (known: %s)",
			pricesFile, region, strings.Join(known, ", "))
	}
	t := priceTable{Region: region, AsOf: file.AsOf, Note: file.Note, Prices: map[string]price{}}
	var errs []error
	if t.AsOf == "" {
		errs = append(errs, fmt.Errorf("%s: asOf is required", pricesFile))
	}
	for _, p := range list {
		switch {
		case p.Key == "":
			errs = append(errs, fmt.Errorf("%s: %s: a price without a key", pricesFile, region))
		case t.Prices[p.Key].Key != "":
			errs = append(errs, fmt.Errorf("%s: %s: %s listed twice", pricesFile, region, p.Key))
		case !(p.USD > 0) || math.IsInf(p.USD, 0):
			errs = append(errs, fmt.Errorf("%s: %s: %s: usd %v, want > 0", pricesFile, region, p.Key, p.USD))
		case p.Unit == "":
			errs = append(errs, fmt.Errorf("%s: %s: %s: unit is required", pricesFile, region, p.Key))
		case !strings.HasPrefix(p.Page, "https://aws.amazon.com/"):
			errs = append(errs, fmt.Errorf("%s: %s: %s: page %q, want the AWS pricing page", pricesFile, region, p.Key, p.Page))
		case p.Checked == "":
			errs = append(errs, fmt.Errorf("%s: %s: %s: checked is required (a source, or \"not corroborated here\")", pricesFile, region, p.Key))
		}
		t.Prices[p.Key] = p
	}
	if err := errors.Join(errs...); err != nil {
		return priceTable{}, err
	}
	return t, nil
}

// assumption is a usage quantity the estimate cannot read from the program.
type assumption struct {
	Key   string  `json:"key"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
	Why   string  `json:"why"`
	// Source says where the value comes from: "default", the stack file
	// (its plan:<key> entries) or "-assume". Why explains the default,
	// Default's value.
	Source  string  `json:"source"`
	Default float64 `json:"default"`
}

// explain is the assumption as a reader needs it: the value, where it comes
// from, and the reasoning behind the default, named as the default's when
// another value replaced it.
func (a assumption) explain() string {
	if a.Source == "default" {
		return fmt.Sprintf("%s=%s %s (default): %s", a.Key, fnum(a.Value), a.Unit, a.Why)
	}
	return fmt.Sprintf("%s=%s %s (from %s; the default %s: %s)", a.Key, fnum(a.Value), a.Unit, a.Source, fnum(a.Default), a.Why)
}

// defaultAssumptions are the usage figures of a small, mostly idle shop.
func defaultAssumptions() map[string]assumption {
	list := []struct {
		key       string
		value     float64
		unit, why string
	}{
		{"fargateSpotDiscount", 0.5, "fraction off on-demand",
			"Fargate Spot has no fixed price and AWS moves it (\"up to 70% off\"); public sources report 50-70% off on-demand, 0.5 is the conservative end"},
		{"albLcu", 0.1, "LCU (monthly average)",
			"an LCU is the highest of 25 new connections/s, 3,000 active connections/min, 1 GB/hour processed or 1,000 rule evaluations/s; 0.1 is about 2.5 new connections a second or 73 GB a month, plenty for an idle dev shop"},
		{"natGB", 10, "GB/month through NAT (gateways or instance)",
			"tasks in private subnets reach ECR, CloudWatch Logs and Secrets Manager through NAT (no VPC endpoints): image pulls on each deploy plus the log volume"},
		{"appLogGB", 0.25, "GB/month per service log group",
			"a quiet shop at logLevel info: one JSON line per request (bytes measured on the Compose stack: 434 for a catalog API call, 246 for a page from web, plus the 26 CloudWatch adds per event) and nothing for health checks, which log at debug; the rate is assumed: about 15,000 requests a day per service, leaving some 15% for startup lines and the Service Connect proxy's own, which Compose does not run"},
		{"flowLogGB", 2, "GB/month per flow log group",
			"ALL traffic at 60 s aggregation in a small VPC"},
		{"flowLogRejectGB", 0.25, "GB/month per flow log group",
			"REJECT only: what security groups refuse, mostly internet scans of the public addresses (ALB, NAT); a few thousand probes a day at ~150 bytes a record is tens of MB, so this leaves room"},
		{"rdsLogGB", 0.25, "GB/month per exported RDS postgresql log group",
			"PostgreSQL error/slow logs of a small database"},
		{"rdsUpgradeLogGB", 0.01, "GB/month per exported RDS upgrade log group",
			"RDS writes the upgrade log only while it upgrades the engine: a few times a year"},
		{"alarmsPerTargetTrackingPolicy", 2, "alarms per policy",
			"Application Auto Scaling creates and manages the CloudWatch alarms of a target tracking policy (\"Target tracking scaling policies for Application Auto Scaling\"): one to scale out, one to scale in"},
		{"containerInsightsMetricsPerService", 16, "metrics per service",
			"the 16 ECS Container Insights metric names (CpuUtilized ... TaskSetCount) listed under \"Container Insights metrics\" for Amazon ECS in the CloudWatch Application Insights guide, counted once per service; cluster- and task-family-level copies make the real count higher"},
		{"containerInsightsLogGB", 0.1, "GB/month per service",
			"Container Insights sends performance log events to /aws/ecs/containerinsights/<cluster>/performance (\"Container Insights performance log events for Amazon ECS\"), ingested like any log"},
		{"ecrGB", 0.5, "GB per repository",
			"the lifecycle policy keeps 20 images; distroless Go images are tens of MB and share layers"},
		{"s3GB", 1, "GB per bucket",
			"ALB access logs of a quiet shop, expired by the bucket's lifecycle rule"},
		{"s3PutThousands", 20, "thousand PUT requests/month per bucket",
			"ALB access logs arrive as about one object per load balancer node every 5 minutes: 2 nodes x 12/h x 730 h = 17.5 thousand"},
		{"tracedRequests", 1000000, "requests/month entering the shop",
			"each request that enters a service from outside (the ALB, a reconciler or sweeper pass) starts a trace, sampled at the stack's traceSampleRatio; calls between services join their caller's trace. About 33,000 a day, in line with appLogGB's 15,000 requests a day per service"},
		{"emfLogGB", 0.15, "GB/month per EMF log group",
			"each task flushes its declared counters once a minute (OTEL_METRIC_EXPORT_INTERVAL 60000), one EMF event of some 400 bytes per metric and dimension values: six series x 43,800 minutes x 400 bytes is about 0.1 GB with one task per service, and the filter keeps every other metric out"},
		{"eventsPerTopic", 30000, "events/month per topic",
			"about 1,000 order.confirmed events a day, a small share of the 15,000 requests a day appLogGB assumes per service"},
		{"pollersPerTask", 1, "receive loops per consumer task and queue",
			"a consumer task runs one long-polling receive loop per queue; an idle loop makes one ReceiveMessage every 20 s (the queue's wait time)"},
		{"secretsApiCalls", 10000, "API calls/month (all secrets)",
			"apps read the database secret when they open connections and ECS reads ADMIN_TOKEN when a task starts"},
	}
	out := map[string]assumption{}
	for _, a := range list {
		out[a.key] = assumption{Key: a.key, Value: a.value, Unit: a.unit, Why: a.why, Source: "default", Default: a.value}
	}
	return out
}

// parseAssumptions applies "key=value" overrides from source to a copy of
// base. Every bad entry is reported, each naming its key.
func parseAssumptions(kv []string, base map[string]assumption, source string) (map[string]assumption, error) {
	out := make(map[string]assumption, len(base))
	for k, v := range base {
		out[k] = v
	}
	var errs []error
	for _, entry := range kv {
		key, value, ok := strings.Cut(entry, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			errs = append(errs, fmt.Errorf("assumption %q: want key=value", entry))
			continue
		}
		a, known := out[key]
		if !known {
			var keys []string
			for k := range base {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			errs = append(errs, fmt.Errorf("assumption %q: unknown (known: %s)", key, strings.Join(keys, ", ")))
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		switch {
		case err != nil || math.IsNaN(v) || math.IsInf(v, 0):
			errs = append(errs, fmt.Errorf("assumption %q: got %q, want a number", key, value))
			continue
		case v < 0:
			errs = append(errs, fmt.Errorf("assumption %q: got %v, want >= 0", key, v))
			continue
		case key == "fargateSpotDiscount" && v > 1:
			errs = append(errs, fmt.Errorf("assumption %q: got %v, want a fraction from 0 to 1", key, v))
			continue
		}
		a.Value, a.Source = v, source
		out[key] = a
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// costLine is one priced item of the estimate.
type costLine struct {
	// Component is the program component the resource belongs to
	// (network, loadbalancer, cluster, database, service:<name>, ...).
	Component string `json:"component"`
	Item      string `json:"item"`
	// Arithmetic shows the computation, e.g.
	// "0.045 USD/hour x 1 NAT gateway x 730 h = 32.85".
	Arithmetic string   `json:"arithmetic"`
	Monthly    float64  `json:"monthly"`
	PriceKeys  []string `json:"priceKeys"`
}

// costEstimate is the monthly cost of a stack.
type costEstimate struct {
	Region        string     `json:"region"`
	AsOf          string     `json:"asOf"`
	HoursPerMonth float64    `json:"hoursPerMonth"`
	Lines         []costLine `json:"lines"`
	// Total is the sum of Lines (each in cents).
	Total float64 `json:"total"`
	// Ceiling is the same stack with every service at its autoscaling
	// maximum.
	Ceiling float64 `json:"ceiling"`
	// Assumptions are every assumption the lines used, with its value.
	Assumptions []assumption `json:"assumptions"`
}

// freeTypes cost nothing by themselves, or are priced through another
// resource; why says which.
var freeTypes = map[string]string{
	"pulumi:providers:aws":                                                                       "provider",
	"random:index/randomPassword:RandomPassword":                                                 "generated locally",
	"aws:iam/role:Role":                                                                          "IAM has no charge",
	"aws:iam/rolePolicy:RolePolicy":                                                              "IAM has no charge",
	"aws:ec2/securityGroup:SecurityGroup":                                                        "no charge",
	"aws:ec2/defaultSecurityGroup:DefaultSecurityGroup":                                          "no charge",
	"aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule":                                  "no charge",
	"aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule":                                    "no charge",
	"aws:ec2/flowLog:FlowLog":                                                                    "priced as ingestion into its log group",
	"aws:lb/listener:Listener":                                                                   "included in the ALB hours and LCUs",
	"aws:lb/listenerRule:ListenerRule":                                                           "included in the ALB LCUs",
	"aws:lb/targetGroup:TargetGroup":                                                             "included in the ALB hours and LCUs",
	"aws:ecs/taskDefinition:TaskDefinition":                                                      "priced through the services that run it",
	"aws:ecs/clusterCapacityProviders:ClusterCapacityProviders":                                  "no charge; the tasks are priced",
	"aws:appautoscaling/target:Target":                                                           "no charge; its maximum sets the ceiling",
	"aws:appautoscaling/scheduledAction:ScheduledAction":                                         "no charge; its schedule sets the hours its service's tasks are priced for",
	"aws:ecr/lifecyclePolicy:LifecyclePolicy":                                                    "no charge; it bounds the repository's storage",
	"awsx:ecr:Image":                                                                             "stored in its repository, priced there",
	"aws:rds/parameterGroup:ParameterGroup":                                                      "no charge",
	"aws:rds/subnetGroup:SubnetGroup":                                                            "no charge",
	"aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2":                       "no charge",
	"aws:s3/bucketOwnershipControls:BucketOwnershipControls":                                     "no charge",
	"aws:s3/bucketPolicy:BucketPolicy":                                                           "no charge",
	"aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock":                                     "no charge",
	"aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2": "SSE-S3 has no charge",
	"aws:secretsmanager/secretVersion:SecretVersion":                                             "the secret is priced per month, versions included",
	"aws:ec2/route:Route":                                                                        "no charge",
	"aws:ec2/routeTable:RouteTable":                                                              "no charge",
	"aws:ec2/routeTableAssociation:RouteTableAssociation":                                        "no charge",
	"aws:ec2/eipAssociation:EipAssociation":                                                      "the Elastic IP is priced",
	"aws:iam/instanceProfile:InstanceProfile":                                                    "IAM has no charge",
	"aws:iam/rolePolicyAttachment:RolePolicyAttachment":                                          "IAM has no charge",
	"aws:servicediscovery/httpNamespace:HttpNamespace":                                           "priced per registered instance, on the services that register",
	"aws:sns/topicPolicy:TopicPolicy":                                                            "no charge",
	"aws:sns/topicSubscription:TopicSubscription":                                                "SNS does not charge deliveries to SQS queues; the queue's requests are priced",
	"aws:sqs/queuePolicy:QueuePolicy":                                                            "no charge",
	"aws:sqs/redriveAllowPolicy:RedriveAllowPolicy":                                              "no charge",
}

// pricedTypes are the types the estimate prices.
var pricedTypes = []string{
	"awsx:ec2:Vpc",
	"aws:ec2/natGateway:NatGateway",
	"aws:ec2/eip:Eip",
	"aws:ec2/instance:Instance",
	"aws:lb/loadBalancer:LoadBalancer",
	"aws:ecs/service:Service",
	"aws:ecs/cluster:Cluster",
	"aws:rds/instance:Instance",
	"aws:cloudwatch/metricAlarm:MetricAlarm",
	"aws:cloudwatch/dashboard:Dashboard",
	"aws:appautoscaling/policy:Policy",
	"aws:cloudwatch/logGroup:LogGroup",
	"aws:secretsmanager/secret:Secret",
	"aws:ecr/repository:Repository",
	"aws:s3/bucketV2:BucketV2",
	"aws:s3/bucket:Bucket",
	"aws:sns/topic:Topic",
	"aws:sqs/queue:Queue",
}

// isComponent reports whether a type is one of this program's components,
// which own resources but cost nothing themselves.
func isComponent(typ string) bool { return strings.HasPrefix(typ, "shop:") }

// estimator accumulates lines and errors for one estimate.
type estimator struct {
	prices priceTable
	usage  map[string]assumption
	used   map[string]bool
	st     *stack
	lines  []costLine
	// ceilingExtra is what the services add at their autoscaling maximum.
	ceilingExtra float64
	// vpcZones is the number of zones the VPC's private subnets span;
	// natInstances counts the EC2 instances that forward traffic (NAT).
	vpcZones, natInstances int
	natInstanceComponent   string
	errs                   []error
}

// estimateCost prices one program run of the mock engine.
func estimateCost(st *stack, prices priceTable, usage map[string]assumption) (costEstimate, error) {
	e := &estimator{prices: prices, usage: usage, used: map[string]bool{}, st: st}
	resources := st.resources

	var unclassified []string
	for _, r := range resources {
		_, free := freeTypes[r.Type]
		if !free && !isComponent(r.Type) && !slices.Contains(pricedTypes, r.Type) && !slices.Contains(unclassified, r.Type) {
			unclassified = append(unclassified, r.Type)
		}
	}
	if len(unclassified) > 0 {
		slices.Sort(unclassified)
		return costEstimate{}, fmt.Errorf("cost: no price and no reason to be free for %s: add it to pricedTypes or freeTypes in infra/cost.go",
			strings.Join(unclassified, ", "))
	}

	e.checkRegion()
	nat := 0
	var natComponent string
	secretComponent := ""
	for _, r := range resources {
		c := componentOf(r.Parent)
		switch r.Type {
		case "awsx:ec2:Vpc":
			if n := e.awsxNatGateways(r, c); n > 0 {
				if nat == 0 {
					natComponent = c
				}
				nat += n
			}
		case "aws:ec2/natGateway:NatGateway":
			e.hourly(c, "NAT gateway hours", "nat-gateway.hour", 1, "NAT gateway", "NAT gateways", "")
			if nat == 0 {
				natComponent = c
			}
			nat++
		case "aws:ec2/flowLog:FlowLog":
			// Priced as ingestion into its CloudWatch log group; other
			// destinations have prices of their own this table lacks.
			if d := text(r.Inputs["logDestinationType"]); d != "" && d != "cloud-watch-logs" {
				e.fail("cost: flow log %s: no price for destination type %q in %s", r.Name, d, pricesFile)
			}
		case "aws:ec2/eip:Eip":
			e.hourly(c, "Elastic IP (public IPv4)", "public-ipv4.hour", 1, "address", "addresses", "")
		case "aws:ec2/instance:Instance":
			e.ec2Instance(r, c)
			if r.Inputs["sourceDestCheck"] == false {
				e.natInstances++
				e.natInstanceComponent = c
			}
		case "aws:lb/loadBalancer:LoadBalancer":
			e.loadBalancer(r, c)
		case "aws:ecs/service:Service":
			e.ecsService(r, c)
		case "aws:ecs/cluster:Cluster":
			e.containerInsights(r, c)
		case "aws:rds/instance:Instance":
			e.database(r, c)
		case "aws:cloudwatch/metricAlarm:MetricAlarm":
			e.metricAlarm(r, c)
		case "aws:cloudwatch/dashboard:Dashboard":
			e.monthly(c, "CloudWatch dashboard "+text(r.Inputs["dashboardName"]), "cloudwatch.dashboard", 1, "dashboard", "dashboards", "")
		case "aws:appautoscaling/policy:Policy":
			e.scalingPolicy(r, c)
		case "aws:cloudwatch/logGroup:LogGroup":
			e.logGroup(r, c)
		case "aws:secretsmanager/secret:Secret":
			e.monthly(c, "Secrets Manager secret", "secretsmanager.secret", 1, "secret", "secrets", "")
			if secretComponent == "" {
				secretComponent = c
			}
		case "aws:sns/topic:Topic":
			e.topic(r, c)
		case "aws:sqs/queue:Queue":
			e.queue(r, c)
		case "aws:ecr/repository:Repository":
			gb := e.assume("ecrGB")
			e.monthly(c, "ECR image storage", "ecr.storage", gb, "GB", "GB", "(ecrGB)")
		case "aws:s3/bucketV2:BucketV2", "aws:s3/bucket:Bucket":
			e.monthly(c, "S3 storage", "s3.standard", e.assume("s3GB"), "GB", "GB", "(s3GB)")
			e.monthly(c, "S3 PUT requests", "s3.put", e.assume("s3PutThousands"), "thousand requests", "thousand requests", "(s3PutThousands)")
		}
	}
	if nat > 0 {
		gb := e.assume("natGB")
		e.perUnit(natComponent, "NAT gateway data processed", "nat-gateway.data", gb, "GB/month (natGB, all gateways)")
	}
	if natComponent == "" {
		natComponent = e.natInstanceComponent
	}
	e.crossZoneNAT(natComponent, nat+e.natInstances)
	e.telemetry()
	if secretComponent != "" || e.hasManagedSecret() {
		if secretComponent == "" {
			secretComponent = "database"
		}
		calls := e.assume("secretsApiCalls")
		p := e.price("secretsmanager.api")
		m := p * calls / 10000
		e.add(secretComponent, "Secrets Manager API calls", m,
			fmt.Sprintf("%s USD/10,000 calls x %s calls/month (secretsApiCalls) / 10,000 = %s", fnum(p), fnum(calls), usd(m)),
			"secretsmanager.api")
	}
	if err := errors.Join(e.errs...); err != nil {
		return costEstimate{}, err
	}

	// The engine registers resources concurrently: sort so that the same
	// stack always prints the same lines.
	slices.SortStableFunc(e.lines, func(a, b costLine) int {
		if c := strings.Compare(a.Component, b.Component); c != 0 {
			return c
		}
		return strings.Compare(a.Item, b.Item)
	})
	est := costEstimate{
		Region: prices.Region, AsOf: prices.AsOf, HoursPerMonth: hoursPerMonth,
		Lines: e.lines,
	}
	sum := 0.0
	for _, l := range e.lines {
		sum += l.Monthly
	}
	est.Total = cents(sum)
	est.Ceiling = cents(sum + e.ceilingExtra)
	for k := range e.used {
		est.Assumptions = append(est.Assumptions, e.usage[k])
	}
	slices.SortFunc(est.Assumptions, func(a, b assumption) int { return strings.Compare(a.Key, b.Key) })
	return est, nil
}

// cents rounds half up to the cent. Rounding to a millionth first keeps
// binary noise (0.0225 x 730 = 16.424999...) from turning 16.425 into 16.42.
func cents(v float64) float64 { return math.Round(math.Round(v*1e6)/1e4) / 100 }

// usd formats a computed amount; fnum formats an input as written.
func usd(v float64) string  { return strconv.FormatFloat(cents(v), 'f', 2, 64) }
func fnum(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// count formats a quantity with its noun.
func count(n float64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fnum(n) + " " + many
}

func (e *estimator) fail(format string, args ...any) {
	e.errs = append(e.errs, fmt.Errorf(format, args...))
}

// price returns a unit price; a missing one is an error naming the key and
// the price file, never a silent zero.
func (e *estimator) price(key string) float64 {
	p, ok := e.prices.Prices[key]
	if !ok {
		e.fail("cost: no price %q for %s in %s", key, e.prices.Region, pricesFile)
		return 0
	}
	return p.USD
}

func (e *estimator) unit(key string) string { return e.prices.Prices[key].Unit }

func (e *estimator) assume(key string) float64 {
	a, ok := e.usage[key]
	if !ok {
		e.fail("cost: assumption %q missing", key)
		return 0
	}
	e.used[key] = true
	return a.Value
}

func (e *estimator) add(component, item string, monthly float64, arithmetic string, keys ...string) {
	e.lines = append(e.lines, newLine(component, item, arithmetic, monthly, keys...))
}

// newLine keeps the amount in cents, as printed, so a table's lines add up to
// its total.
func newLine(component, item, arithmetic string, monthly float64, keys ...string) costLine {
	return costLine{Component: component, Item: item, Arithmetic: arithmetic, Monthly: cents(monthly), PriceKeys: keys}
}

// hourly adds "<price> USD/hour x <qty> <noun> x 730 h = <monthly>".
func (e *estimator) hourly(component, item, key string, qty float64, one, many, note string) {
	p := e.price(key)
	m := p * qty * hoursPerMonth
	q := count(qty, one, many)
	if note != "" {
		q += " " + note
	}
	e.add(component, item, m, fmt.Sprintf("%s USD/%s x %s x %s h = %s", fnum(p), e.unit(key), q, fnum(hoursPerMonth), usd(m)), key)
}

// monthly adds "<price> USD/<unit> x <qty> <noun> = <monthly>" for prices
// already per month.
func (e *estimator) monthly(component, item, key string, qty float64, one, many, note string) {
	p := e.price(key)
	m := p * qty
	q := count(qty, one, many)
	if note != "" {
		q += " " + note
	}
	e.add(component, item, m, fmt.Sprintf("%s USD/%s x %s = %s", fnum(p), e.unit(key), q, usd(m)), key)
}

// perUnit adds "<price> USD/<unit> x <qty> <what> = <monthly>" for usage
// quantities.
func (e *estimator) perUnit(component, item, key string, qty float64, what string) {
	p := e.price(key)
	m := p * qty
	e.add(component, item, m, fmt.Sprintf("%s USD/%s x %s %s = %s", fnum(p), e.unit(key), fnum(qty), what, usd(m)), key)
}

// componentOf names the program component a resource belongs to from its
// parent's URN (urn:pulumi:<stack>::<project>::<type chain>::<name>).
func componentOf(parentURN string) string {
	parts := strings.Split(parentURN, "::")
	if len(parts) < 4 {
		return "stack"
	}
	name := parts[len(parts)-1]
	chain := strings.Split(parts[len(parts)-2], "$")
	typ := chain[len(chain)-1]
	if typ == "pulumi:pulumi:Stack" {
		return "stack"
	}
	if mod := strings.Split(typ, ":"); len(mod) == 3 && mod[1] == "service" {
		return "service:" + name
	}
	return name
}

// The engine carries every value as plain Go data; these read it.

func text(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// isTrue reads a boolean input; anything else is false.
func isTrue(v any) bool {
	b, _ := v.(bool)
	return b
}

// checkRegion refuses to price a stack whose AWS provider targets another
// region than the price table.
func (e *estimator) checkRegion() {
	for _, p := range e.st.ofType("pulumi:providers:aws") {
		if r := text(p.Inputs["region"]); r != "" && r != e.prices.Region {
			e.fail("cost: provider %s targets %s, prices are for %s", p.Name, r, e.prices.Region)
		}
	}
}

// awsxNatGateways prices what an awsx VPC creates but the mock engine does
// not register (its children live in the awsx plugin): awsx v2.21.0
// (awsx/ec2/vpc.ts, shouldCreateNatGateway) makes one NAT gateway for
// "Single", one per zone for "OnePerAz" (the default) and none for "None",
// each with a new Elastic IP unless elasticIpAllocationIds are given (those
// addresses cost the same). It returns the number of gateways.
func (e *estimator) awsxNatGateways(r recorded, c string) int {
	layout := awsxNatLayout(r)
	switch strings.ToLower(layout.Strategy) {
	case "none", "single", "oneperaz":
	default:
		e.fail("cost: VPC %s: unknown NAT gateway strategy %q", r.Name, layout.Strategy)
		return 0
	}
	e.vpcZones = len(layout.Zones)
	n := len(layout.GatewayZones)
	if n == 0 {
		return 0
	}
	note := fmt.Sprintf("(awsx strategy %s, %d zones)", layout.Strategy, len(layout.Zones))
	e.hourly(c, "NAT gateway hours", "nat-gateway.hour", float64(n), "NAT gateway", "NAT gateways", note)
	e.hourly(c, "NAT gateway public IPv4", "public-ipv4.hour", float64(n), "Elastic IP", "Elastic IPs", "(one per NAT gateway)")
	return n
}

// loadBalancer prices an ALB: hours, capacity units, and, when it faces the
// internet, its public IPv4 addresses. The public IPv4 charge covers the
// addresses AWS services manage for you, every type except BYOIP ("Identify
// and optimize public IPv4 address usage on AWS", AWS Networking & Content
// Delivery blog); an ALB node holds one address per zone it spans.
func (e *estimator) loadBalancer(r recorded, c string) {
	if typ := text(r.Inputs["loadBalancerType"]); typ != "" && typ != "application" {
		e.fail("cost: load balancer %s: no price for type %q in %s", r.Name, typ, pricesFile)
		return
	}
	e.hourly(c, "ALB hours", "alb.hour", 1, "load balancer", "load balancers", "")
	lcu := e.assume("albLcu")
	p := e.price("alb.lcu")
	m := p * lcu * hoursPerMonth
	e.add(c, "ALB capacity units", m,
		fmt.Sprintf("%s USD/LCU-hour x %s LCU (albLcu) x %s h = %s", fnum(p), fnum(lcu), fnum(hoursPerMonth), usd(m)), "alb.lcu")
	if isTrue(r.Inputs["internal"]) {
		return
	}
	zones := len(asSlice(r.Inputs["subnets"]))
	if z := len(asSlice(r.Inputs["subnetMappings"])); z > zones {
		zones = z
	}
	if zones == 0 {
		e.fail("cost: load balancer %s: cannot count its zones (no subnets)", r.Name)
		return
	}
	e.hourly(c, "ALB public IPv4", "public-ipv4.hour", float64(zones), "address", "addresses", "(one per subnet)")
}

// ec2Instance prices an instance, its EBS volumes and its public address.
func (e *estimator) ec2Instance(r recorded, c string) {
	typ := text(r.Inputs["instanceType"])
	if _, ok := e.prices.Prices["ec2."+typ]; !ok {
		e.fail("cost: instance %s: no price for instance type %q in %s (key ec2.%s)", r.Name, typ, pricesFile, typ)
		return
	}
	e.hourly(c, "EC2 "+typ, "ec2."+typ, 1, "instance", "instances", "")
	root := dig(r.Inputs, "rootBlockDevice")
	size, ok := number(dig(root, "volumeSize"))
	note := "(root volume)"
	if !ok {
		// An unset size takes the AMI's snapshot size; Amazon Linux AMIs,
		// which NAT instances use, ship 8 GiB. Set volumeSize to be exact.
		size, note = 8, "(root volume; size unset, 8 GiB assumed)"
	}
	e.volume(r, c, text(dig(root, "volumeType")), size, note)
	for _, dev := range asSlice(r.Inputs["ebsBlockDevices"]) {
		if s, ok := number(dig(dev, "volumeSize")); ok {
			e.volume(r, c, text(dig(dev, "volumeType")), s, "(EBS volume)")
		}
	}
	if isTrue(r.Inputs["associatePublicIpAddress"]) {
		e.hourly(c, "EC2 public IPv4", "public-ipv4.hour", 1, "address", "addresses", "")
	}
}

func (e *estimator) volume(r recorded, c, typ string, size float64, note string) {
	if typ == "" {
		typ = "gp3" // what current AMIs map their root volume to; gp2 is priced if set
	}
	if _, ok := e.prices.Prices["ebs."+typ]; !ok {
		e.fail("cost: instance %s: no price for EBS volume type %q in %s", r.Name, typ, pricesFile)
		return
	}
	e.monthly(c, "EBS "+typ, "ebs."+typ, size, "GB", "GB", note)
}

// taskShare is how many tasks of a service run on one capacity provider.
type taskShare struct {
	onDemand, spot float64
	split          string
}

// splitTasks places n tasks as a capacity provider strategy says
// (CapacityProviderStrategyItem, ECS API reference): base tasks, at most one
// provider having a base, run on that provider first; weights share the rest
// by relative percentage. Shares may be fractional: the estimate keeps the
// weight ratio. FARGATE_SPOT runs ARM64 tasks too, on platform 1.4.0+.
func splitTasks(n float64, strategy []any) taskShare {
	if len(strategy) == 0 {
		return taskShare{onDemand: n, split: "launch type FARGATE"}
	}
	type entry struct {
		provider     string
		base, weight float64
	}
	var entries []entry
	var placed, weights float64
	share := taskShare{}
	give := func(provider string, tasks float64) {
		if provider == "FARGATE_SPOT" {
			share.spot += tasks
		} else {
			share.onDemand += tasks
		}
	}
	var parts []string
	for _, s := range strategy {
		p := text(dig(s, "capacityProvider"))
		base, _ := number(dig(s, "base"))
		weight, _ := number(dig(s, "weight"))
		entries = append(entries, entry{p, base, weight})
		if base > 0 {
			b := math.Min(base, n-placed)
			give(p, b)
			placed += b
			parts = append(parts, fmt.Sprintf("base %s on %s", fnum(base), p))
		}
		weights += weight
	}
	rest := n - placed
	var ratio []string
	for _, en := range entries {
		if weights > 0 {
			give(en.provider, rest*en.weight/weights)
		}
		ratio = append(ratio, fmt.Sprintf("%s %s", en.provider, fnum(en.weight)))
	}
	parts = append(parts, fmt.Sprintf("%s more by weight %s", fnum(rest), strings.Join(ratio, " : ")))
	share.split = strings.Join(parts, ", ")
	return share
}

// ecsService prices a Fargate service's tasks at its desired count, and
// adds to the ceiling what they cost at the autoscaling maximum.
func (e *estimator) ecsService(r recorded, c string) {
	launch := text(r.Inputs["launchType"])
	if launch == "EC2" || launch == "EXTERNAL" {
		return // the instances are priced themselves
	}
	name := text(r.Inputs["name"])
	if name == "" {
		name = text(r.Outputs["name"])
	}
	task, ok := e.taskDefinition(text(r.Inputs["taskDefinition"]))
	if !ok {
		e.fail("cost: service %s: task definition %q not registered", r.Name, text(r.Inputs["taskDefinition"]))
		return
	}
	cpuUnits, okCPU := number(task.Inputs["cpu"])
	memMiB, okMem := number(task.Inputs["memory"])
	if !okCPU || !okMem {
		e.fail("cost: service %s: task definition %s has no task-level cpu/memory", r.Name, task.Name)
		return
	}
	// Fargate bills vCPU (1024 CPU units each) and GB (1024 MiB each).
	vcpu, gb := cpuUnits/1024, memMiB/1024
	arch := text(dig(task.Inputs, "runtimePlatform", "cpuArchitecture"))
	if arch == "" {
		arch = "X86_64"
	}
	prefix := "fargate." + strings.ToLower(arch)
	if _, ok := e.prices.Prices[prefix+".vcpu"]; !ok {
		e.fail("cost: service %s: no Fargate price for CPU architecture %q in %s", r.Name, arch, pricesFile)
		return
	}
	strategy := capacityStrategyOf(e.st, r)
	hours, hoursText := e.taskHours(name)
	desired, _ := number(r.Inputs["desiredCount"]) // unset: 0, the provider's default
	maxTasks := desired
	for _, t := range e.st.ofType("aws:appautoscaling/target:Target") {
		if strings.HasSuffix(text(t.Inputs["resourceId"]), "/"+name) && text(t.Inputs["scalableDimension"]) == "ecs:service:DesiredCount" {
			if m, ok := number(t.Inputs["maxCapacity"]); ok {
				maxTasks = m
			}
		}
	}
	ephemeral, _ := number(dig(task.Inputs, "ephemeralStorage", "sizeInGib"))
	publicIP := isTrue(dig(r.Inputs, "networkConfiguration", "assignPublicIp"))
	serviceConnect := isTrue(dig(r.Inputs, "serviceConnectConfiguration", "enabled"))

	lines := func(tasks float64) []costLine {
		share := splitTasks(tasks, strategy)
		pv, pm := e.price(prefix+".vcpu"), e.price(prefix+".memory")
		perTask := vcpu*pv + gb*pm
		rate := fmt.Sprintf("(%s vCPU x %s + %s GB x %s) USD/hour", fnum(vcpu), fnum(pv), fnum(gb), fnum(pm))
		split := func(n float64) string {
			return fmt.Sprintf("(%s of %s: %s)", fnum(n), count(tasks, "task", "tasks"), share.split)
		}
		var out []costLine
		if share.onDemand > 0 || share.spot == 0 {
			m := perTask * share.onDemand * hours
			out = append(out, newLine(c, "Fargate "+arch+" tasks, on-demand",
				fmt.Sprintf("%s x %s x %s = %s %s", rate, count(share.onDemand, "task", "tasks"), hoursText, usd(m),
					split(share.onDemand)),
				m, prefix+".vcpu", prefix+".memory"))
		}
		if share.spot > 0 {
			d := e.assume("fargateSpotDiscount")
			m := perTask * (1 - d) * share.spot * hours
			out = append(out, newLine(c, "Fargate "+arch+" tasks, Spot",
				fmt.Sprintf("%s x (1 - %s fargateSpotDiscount) x %s x %s = %s %s", rate, fnum(d),
					count(share.spot, "task", "tasks"), hoursText, usd(m), split(share.spot)),
				m, prefix+".vcpu", prefix+".memory"))
		}
		if extra := ephemeral - 20; extra > 0 {
			p := e.price("fargate.ephemeral-storage")
			m := p * extra * tasks * hours
			out = append(out, newLine(c, "Fargate ephemeral storage beyond 20 GB",
				fmt.Sprintf("%s USD/GB-hour x %s GB x %s x %s = %s", fnum(p), fnum(extra), count(tasks, "task", "tasks"), hoursText, usd(m)),
				m, "fargate.ephemeral-storage"))
		}
		if publicIP {
			p := e.price("public-ipv4.hour")
			m := p * tasks * hours
			out = append(out, newLine(c, "Task public IPv4",
				fmt.Sprintf("%s USD/address-hour x %s (assignPublicIp) x %s = %s", fnum(p), count(tasks, "address", "addresses"), hoursText, usd(m)),
				m, "public-ipv4.hour"))
		}
		if serviceConnect {
			p := e.price("cloudmap.instance")
			m := p * tasks
			out = append(out, newLine(c, "Cloud Map instances (Service Connect)",
				fmt.Sprintf("%s USD/instance-month x %s = %s", fnum(p), count(tasks, "registered task", "registered tasks"), usd(m)),
				m, "cloudmap.instance"))
		}
		return out
	}
	steady := lines(desired)
	e.lines = append(e.lines, steady...)
	if share, ok := sidecarShare(task, name); ok {
		e.add(c, "Sidecars inside the task size", 0,
			share+": no charge beyond the Fargate line = 0.00")
	}
	if maxTasks > desired {
		for _, l := range lines(maxTasks) {
			e.ceilingExtra += l.Monthly
		}
		for _, l := range steady {
			e.ceilingExtra -= l.Monthly
		}
	}
}

// taskHours is how many hours a month the tasks of the ECS service named
// service run, and the arithmetic: the whole month, or, where scheduled
// actions scale it in to zero and out again every week (activeHours), the
// hours of a week they leave it running x 730/168 weeks a month (the
// 730-hour month of every other line, in weeks). An action
// with a maximum above zero lets the service run at its desired count.
func (e *estimator) taskHours(service string) (float64, string) {
	type change struct {
		at      int // minute of the week from Monday 00:00
		running bool
	}
	var changes []change
	timezone := "UTC" // the API's default
	for _, a := range e.st.ofType("aws:appautoscaling/scheduledAction:ScheduledAction") {
		if !strings.HasSuffix(text(a.Inputs["resourceId"]), "/"+service) || text(a.Inputs["scalableDimension"]) != "ecs:service:DesiredCount" {
			continue
		}
		days, minute, err := parseWeeklyCron(text(a.Inputs["schedule"]))
		if err != nil {
			e.fail("cost: scheduled action %s: %v", a.Name, err)
			continue
		}
		maxCapacity, ok := number(dig(a.Inputs, "scalableTargetAction", "maxCapacity"))
		if !ok {
			e.fail("cost: scheduled action %s: no scalableTargetAction.maxCapacity to price", a.Name)
			continue
		}
		for _, d := range days {
			changes = append(changes, change{slices.Index(weekOrder, d)*24*60 + minute, maxCapacity > 0})
		}
		if tz := text(a.Inputs["timezone"]); tz != "" {
			timezone = tz
		}
	}
	if len(changes) == 0 {
		return hoursPerMonth, fnum(hoursPerMonth) + " h"
	}
	slices.SortStableFunc(changes, func(a, b change) int { return a.at - b.at })
	// Walk the week a minute at a time; it starts in the state the last
	// change of the week before left.
	perDay := make([]int, len(weekOrder))
	running, next := changes[len(changes)-1].running, 0
	for m := range len(weekOrder) * 24 * 60 {
		for ; next < len(changes) && changes[next].at <= m; next++ {
			running = changes[next].running
		}
		if running {
			perDay[m/(24*60)]++
		}
	}
	week, days := 0, 0
	for _, n := range perDay {
		week += n
		if n > 0 {
			days++
		}
	}
	hours := float64(week) / 60 * hoursPerMonth / (7 * 24)
	shown := fnum(math.Round(hours*100) / 100)
	for _, n := range perDay {
		if n > 0 && n*days != week {
			return hours, fmt.Sprintf("%s h (%s h a week x 730/168 weeks, %s schedule)", shown, fnum(float64(week)/60), timezone)
		}
	}
	return hours, fmt.Sprintf("%s h (%s x %s h x 730/168 weeks, %s schedule)",
		shown, count(float64(days), "day", "days"), fnum(float64(week/max(days, 1))/60), timezone)
}

// taskDefinition finds the task definition a service names by ARN, family
// or logical name.
func (e *estimator) taskDefinition(ref string) (recorded, bool) {
	for _, t := range e.st.ofType("aws:ecs/taskDefinition:TaskDefinition") {
		if ref != "" && (ref == text(t.Outputs["arn"]) || ref == text(t.Inputs["family"]) || ref == t.Name) {
			return t, true
		}
	}
	return recorded{}, false
}

// capacityStrategyOf is the capacity provider strategy a service's tasks
// are placed by: its own, else, when it names no launch type either, the
// cluster's default. The estimate and the diagram both read it here.
func capacityStrategyOf(st *stack, svc recorded) []any {
	if s := asSlice(svc.Inputs["capacityProviderStrategies"]); len(s) > 0 || svc.Inputs["launchType"] != nil {
		return s
	}
	for _, cp := range st.ofType("aws:ecs/clusterCapacityProviders:ClusterCapacityProviders") {
		if s := asSlice(cp.Inputs["defaultCapacityProviderStrategies"]); len(s) > 0 {
			return s
		}
	}
	return nil
}

// containerInsights prices a cluster's Container Insights metrics and
// performance logs when its settings turn them on. "enhanced" adds task- and
// container-level metrics with a pricing of its own that the table lacks; it
// is priced like "enabled" here, so read that line as a floor.
func (e *estimator) containerInsights(r recorded, c string) {
	mode := ""
	for _, s := range asSlice(r.Inputs["settings"]) {
		if text(dig(s, "name")) == "containerInsights" {
			mode = text(dig(s, "value"))
		}
	}
	if mode != "enabled" && mode != "enhanced" {
		return
	}
	services := 0.0
	for _, s := range e.st.ofType("aws:ecs/service:Service") {
		if cl := text(s.Inputs["cluster"]); cl != "" && (cl == text(r.Outputs["arn"]) || cl == text(r.Outputs["name"]) || cl == r.Name) {
			services++
		}
	}
	if services == 0 {
		return
	}
	perService := e.assume("containerInsightsMetricsPerService")
	p := e.price("cloudwatch.metric")
	m := p * perService * services
	e.add(c, "Container Insights metrics ("+mode+")", m,
		fmt.Sprintf("%s USD/metric-month x %s metrics per service (containerInsightsMetricsPerService) x %s = %s",
			fnum(p), fnum(perService), count(services, "service", "services"), usd(m)), "cloudwatch.metric")
	gb := e.assume("containerInsightsLogGB")
	pl := e.price("cloudwatch.logs.ingestion")
	ml := pl * gb * services
	e.add(c, "Container Insights performance logs", ml,
		fmt.Sprintf("%s USD/GB x %s GB/month per service (containerInsightsLogGB) x %s = %s",
			fnum(pl), fnum(gb), count(services, "service", "services"), usd(ml)), "cloudwatch.logs.ingestion")
}

// database prices an RDS instance and its storage; Multi-AZ bills both for
// the standby too ("Multi-AZ DB instances" in "On-Demand DB instances for
// Amazon RDS", RDS user guide). Backup storage up to the provisioned size is
// free, so it is not counted.
func (e *estimator) database(r recorded, c string) {
	engine := text(r.Inputs["engine"])
	if engine != "postgres" {
		e.fail("cost: database %s: no prices for RDS engine %q in %s", r.Name, engine, pricesFile)
		return
	}
	class := text(r.Inputs["instanceClass"])
	key := "rds.postgres." + class
	if _, ok := e.prices.Prices[key]; !ok {
		e.fail("cost: database %s: no price for instance class %q in %s (key %s)", r.Name, class, pricesFile, key)
		return
	}
	copies, note := 1.0, "(Single-AZ)"
	if isTrue(r.Inputs["multiAz"]) {
		copies, note = 2, "(Multi-AZ: primary + standby)"
	}
	e.hourly(c, "RDS "+class, key, copies, "instance", "instances", note)
	storage := text(r.Inputs["storageType"])
	if storage == "" {
		storage = "gp2" // the RDS API default when no type and no IOPS are given
	}
	skey := "rds.storage." + storage
	if _, ok := e.prices.Prices[skey]; !ok {
		e.fail("cost: database %s: no price for storage type %q in %s", r.Name, storage, pricesFile)
		return
	}
	gb, _ := number(r.Inputs["allocatedStorage"])
	p := e.price(skey)
	m := p * gb * copies
	e.add(c, "RDS storage "+storage, m,
		fmt.Sprintf("%s USD/GB-month x %s GB x %s %s = %s", fnum(p), fnum(gb), fnum(copies), note, usd(m)), skey)
	if isTrue(r.Inputs["manageMasterUserPassword"]) {
		e.monthly(c, "RDS-managed master secret", "secretsmanager.secret", 1, "secret", "secrets", "(manageMasterUserPassword)")
	}
}

func (e *estimator) hasManagedSecret() bool {
	for _, r := range e.st.ofType("aws:rds/instance:Instance") {
		if isTrue(r.Inputs["manageMasterUserPassword"]) {
			return true
		}
	}
	return false
}

// metricAlarm prices an alarm per metric it evaluates; a period under 60 s
// makes it high-resolution.
func (e *estimator) metricAlarm(r recorded, c string) {
	metrics := 0.0
	for _, q := range asSlice(r.Inputs["metricQueries"]) {
		if dig(q, "metric") != nil {
			metrics++
		}
	}
	if metrics == 0 {
		metrics = 1
	}
	key, kind := "cloudwatch.alarm.standard", "standard"
	if p, ok := number(r.Inputs["period"]); ok && p < 60 {
		key, kind = "cloudwatch.alarm.high-resolution", "high-resolution"
	}
	e.monthly(c, "CloudWatch alarm "+r.Name+" ("+kind+")", key, metrics, "alarm metric", "alarm metrics", "")
}

// scalingPolicy prices the alarms Application Auto Scaling creates for a
// target tracking policy; step scaling uses alarms the program registers.
func (e *estimator) scalingPolicy(r recorded, c string) {
	if text(r.Inputs["policyType"]) != "TargetTrackingScaling" {
		return
	}
	n := e.assume("alarmsPerTargetTrackingPolicy")
	e.monthly(c, "Target tracking alarms of "+r.Name, "cloudwatch.alarm.standard", n, "alarm", "alarms", "(alarmsPerTargetTrackingPolicy)")
}

// logGroup prices a log group's ingestion and storage; what writes to it
// sets the assumption and the price.
func (e *estimator) logGroup(r recorded, c string) {
	name := text(r.Inputs["name"])
	if name == "" {
		name = text(r.Outputs["name"])
	}
	key, ingest := "appLogGB", "cloudwatch.logs.ingestion"
	switch {
	case strings.HasPrefix(name, "/aws/ecs/containerinsights/"):
		return // priced with the cluster
	case strings.HasPrefix(name, "/aws/rds/") && strings.HasSuffix(name, "/upgrade"):
		key = "rdsUpgradeLogGB"
	case strings.HasPrefix(name, "/aws/rds/"):
		key = "rdsLogGB"
	case strings.HasSuffix(name, "/"+emfLogGroupSuffix):
		key = "emfLogGB"
	default:
		switch traffic, ok := e.flowLogTraffic(r); {
		case !ok:
		case traffic == "REJECT":
			key, ingest = "flowLogRejectGB", "cloudwatch.logs.vended"
		default:
			key, ingest = "flowLogGB", "cloudwatch.logs.vended"
		}
	}
	gb := e.assume(key)
	p := e.price(ingest)
	m := p * gb
	e.add(c, "Log ingestion "+name, m,
		fmt.Sprintf("%s USD/GB x %s GB/month (%s) = %s", fnum(p), fnum(gb), key, usd(m)), ingest)

	days, _ := number(r.Inputs["retentionInDays"])
	kept := fmt.Sprintf("%s days retention", fnum(days))
	if days <= 0 {
		// Never expires: the stored volume grows without bound; a year of
		// it shows the order of magnitude.
		days, kept = 365, "never expires, one year shown"
	}
	stored := gb * days / daysPerMonth
	ps := e.price("cloudwatch.logs.storage")
	ms := ps * stored
	e.add(c, "Log storage "+name, ms,
		fmt.Sprintf("%s USD/GB-month x %.3f GB kept (%s GB/month x %s / %.4f days) = %s",
			fnum(ps), stored, fnum(gb), kept, daysPerMonth, usd(ms)), "cloudwatch.logs.storage")
}

// flowLogTraffic returns the traffic type of the VPC flow log that writes to
// the group, if one does.
func (e *estimator) flowLogTraffic(group recorded) (string, bool) {
	arn := text(group.Outputs["arn"])
	for _, f := range e.st.ofType("aws:ec2/flowLog:FlowLog") {
		if d := text(f.Inputs["logDestination"]); d != "" && (d == arn || strings.TrimSuffix(d, ":*") == arn) {
			return text(f.Inputs["trafficType"]), true
		}
	}
	return "", false
}

// crossZoneNAT prices the traffic that crosses zones to reach NAT: with NAT
// in fewer zones than the private subnets (one gateway, or one instance),
// the tasks in the other zones send their share of natGB to another zone and
// get the answers back, billed out of one zone and into the other ("Data
// Transfer within the same AWS Region" on the EC2 pricing page). A NAT
// gateway per zone keeps it in the zone.
func (e *estimator) crossZoneNAT(component string, natZones int) {
	if natZones == 0 || e.vpcZones <= natZones {
		return
	}
	gb := e.assume("natGB")
	p := e.price("ec2.inter-az")
	away := e.vpcZones - natZones
	m := p * 2 * gb * float64(away) / float64(e.vpcZones)
	e.add(component, "Cross-zone traffic to NAT", m,
		fmt.Sprintf("%s USD/GB x 2 (out of one zone, into the other) x %s GB/month (natGB) x %d/%d zones without NAT = %s",
			fnum(p), fnum(gb), away, e.vpcZones, usd(m)), "ec2.inter-az")
}

// kmsDataKeySeconds is how long SNS reuses a data key of a topic's KMS key:
// up to 5 minutes ("Managing Amazon SNS encryption keys and costs").
const kmsDataKeySeconds = 300

// topic prices a topic's publishes (one request per event of up to 64 KB)
// and, when it is encrypted, the KMS requests SNS makes for it: SNS's own
// formula, R = B / D x 2 x P, for a month of B seconds, data keys reused for
// D seconds and P publishing principals (one role per topic here). The AWS
// managed key has no monthly charge; a customer managed key would, and its
// price is not in the table.
func (e *estimator) topic(r recorded, c string) {
	events := e.assume("eventsPerTopic")
	p := e.price("sns.publish")
	m := p * events / 1e6
	e.add(c, "SNS publishes "+text(r.Inputs["name"]), m,
		fmt.Sprintf("%s USD/million x %s events/month (eventsPerTopic) / 1,000,000 = %s", fnum(p), fnum(events), usd(m)), "sns.publish")
	key := text(r.Inputs["kmsMasterKeyId"])
	if key == "" {
		return
	}
	if !strings.HasPrefix(key, "alias/aws/") {
		e.fail("cost: topic %s: no price for the customer managed KMS key %q in %s", r.Name, key, pricesFile)
		return
	}
	seconds := hoursPerMonth * 3600
	requests := seconds / kmsDataKeySeconds * 2
	pk := e.price("kms.requests")
	mk := pk * requests / 10000
	e.add(c, "KMS requests of "+text(r.Inputs["name"]), mk,
		fmt.Sprintf("%s USD/10,000 requests x (%s s / %d s data key reuse x 2 x 1 publishing role = %s requests) / 10,000 = %s",
			fnum(pk), fnum(seconds), kmsDataKeySeconds, fnum(requests), usd(mk)), "kms.requests")
}

// queue prices the requests to a consumer's queue: per event the SendMessage
// SNS makes, a ReceiveMessage and a DeleteMessage, plus the empty long polls
// of its consumer's tasks (a ReceiveMessage every receiveWaitTimeSeconds
// each). A dead-letter queue (no redrive policy of its own) is only written
// by SQS itself and read by people: no requests assumed.
func (e *estimator) queue(r recorded, c string) {
	if text(r.Inputs["redrivePolicy"]) == "" {
		return
	}
	wait, _ := number(r.Inputs["receiveWaitTimeSeconds"])
	if wait <= 0 {
		e.fail("cost: queue %s: short polling is not priced (set receiveWaitTimeSeconds)", r.Name)
		return
	}
	service := text(dig(r.Inputs, "tags", "service"))
	tasks, ok := e.consumerTasks(service)
	if !ok {
		e.fail("cost: queue %s: no ECS service %q reads it (its service tag)", r.Name, text(dig(r.Inputs, "tags", "service")))
		return
	}
	events := e.assume("eventsPerTopic")
	pollers := e.assume("pollersPerTask")
	hours, hoursText := e.taskHours(service)
	polls := tasks * pollers * hours * 3600 / wait
	p := e.price("sqs.requests")
	m := p * (3*events + polls) / 1e6
	e.add(c, "SQS requests "+text(r.Inputs["name"]), m,
		fmt.Sprintf("%s USD/million x (3 x %s events (eventsPerTopic: send, receive, delete) + %s x %s pollers (pollersPerTask) x %s x 3600 / %s s long polls) / 1,000,000 = %s",
			fnum(p), fnum(events), count(tasks, "task", "tasks"), fnum(pollers), hoursText, fnum(wait), usd(m)), "sqs.requests")
}

// consumerTasks is the desired count of the ECS service named service.
func (e *estimator) consumerTasks(service string) (float64, bool) {
	for _, s := range e.st.ofType("aws:ecs/service:Service") {
		if text(s.Inputs["name"]) == service {
			n, _ := number(s.Inputs["desiredCount"])
			return n, true
		}
	}
	return 0, false
}
