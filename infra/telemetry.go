package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"gopkg.in/yaml.v3"
)

// The values of the telemetry setting.
const (
	telemetryEnabled  = "enabled"
	telemetryDisabled = "disabled"
)

// The collector beside every app: the AWS Distro for OpenTelemetry (ADOT)
// collector, the image AWS documents for ECS Fargate sidecars ("Create ECS
// Task Definition for Fargate with ADOT Collector", aws-otel.github.io). The
// tag is pinned: v0.49.0 (2026-07-10) is the release built on collector and
// collector-contrib v0.156.0.
const (
	collectorName  = "aws-otel-collector"
	collectorImage = "public.ecr.aws/aws-observability/aws-otel-collector:v0.49.0"
	// collectorUser is the image's own user (aoc, uid and gid 4317, made in
	// cmd/awscollector/Dockerfile); named here so ECS.20 can see it.
	collectorUser = "4317:4317"
	// collectorHealthcheck is the binary the image ships beside the
	// collector: it asks the health_check extension on 127.0.0.1:13133
	// and exits non-zero unless it answers 200 (cmd/healthcheck).
	collectorHealthcheck = "/healthcheck"
	collectorHealthPort  = 13133
	// otlpHTTPPort is OTLP over HTTP/protobuf, the only protocol the apps
	// speak; no gRPC port is opened.
	otlpHTTPPort = 4318
)

// What the collector takes of every task, and what the app must keep. The
// smallest Fargate task, 256/512, leaves the app 224 CPU units and 352 MiB
// (the apps idle at a few tens of MiB), so every task size fits both and
// none grows: TestEveryTaskSizeFitsTheCollector.
const (
	// collectorCPU is the collector's CPU share (CPU units): it batches a
	// few spans a second and one metrics flush a minute. The app container
	// gets the rest of the task's units, so neither starves the other
	// when both are busy.
	collectorCPU = 32
	// collectorMemoryMiB is the collector's hard limit: beyond it, only the
	// collector is stopped, never the app. collectorReserveMiB is what it
	// is sure to get.
	collectorMemoryMiB  = 160
	collectorReserveMiB = 64
	// The memory_limiter refuses data above this heap size; its README
	// says the process uses "about 50MiB higher" than limit_mib, so 100
	// leaves room under the 160 MiB limit.
	memoryLimiterMiB      = 100
	memoryLimiterSpikeMiB = 25

	appMinCPU       = 128
	appMinMemoryMiB = 256
)

// metricExportIntervalMs is how often the apps push their metrics
// (OTEL_METRIC_EXPORT_INTERVAL): once a minute, CloudWatch's standard
// resolution, so the collector never sends two EMF events per metric and
// minute.
const metricExportIntervalMs = 60000

// metricDeclaration is one awsemf metric_declarations rule: the metric names
// it turns into CloudWatch metrics, the one dimension set it keeps, and, for
// each dimension, the only values that become a metric. A data point whose
// value is not listed stays in the EMF log but is no metric.
type metricDeclaration struct {
	Names     []string
	Dimension []string
	Values    map[string][]string
}

// metricDeclarations are the CloudWatch custom metrics the collector makes,
// each billed per month per name and dimension values (CloudWatch pricing,
// "Metrics"), so the list is short on purpose: only the shop's business
// counters, which nothing else measures.
//
//   - shop.orders by outcome (confirmed, refused, failed; the values
//     apps/orders/internal/checkout counts): 3 metrics. The
//     order rate and refusals are the shop's health as a customer sees it.
//   - shop.reconciler.settlements by outcome (confirmed, released): 2
//     metrics. Settlements above zero mean orders got stuck.
//   - shop.reservations.expired, no dimension: 1 metric. Reservations
//     released on expiry mean checkouts that never finished.
//
// Left out: the HTTP server and client histograms and the pgx pool
// statistics. Per route, method and status they would be dozens of metrics
// per service, and the ALB already gives request counts, 5xx and p50/p99
// latency per service for nothing (AWS/ApplicationELB); awsemf would send a
// histogram as count/sum/min/max only, no percentiles. No service or task
// dimension either: the namespace is the stack's, and the counters come
// from one service each. Traces still carry every span.
var metricDeclarations = []metricDeclaration{
	{Names: []string{"shop.orders"}, Dimension: []string{"outcome"},
		Values: map[string][]string{"outcome": {"confirmed", "refused", "failed"}}},
	{Names: []string{"shop.reconciler.settlements"}, Dimension: []string{"outcome"},
		Values: map[string][]string{"outcome": {"confirmed", "released"}}},
	{Names: []string{"shop.reservations.expired"}, Dimension: []string{}},
}

// metricsNamespace is the CloudWatch namespace of a stack's metrics.
func metricsNamespace(cfg Config) string { return cfg.Project + "/" + cfg.Stack }

// Telemetry is what the stack's collectors write to: the log group of the
// EMF events (from which CloudWatch extracts the metrics) and the
// namespace of those metrics.
type Telemetry struct {
	pulumi.ResourceState

	Namespace    string
	LogGroupName pulumi.StringOutput
	LogGroupArn  pulumi.StringOutput
}

// newTelemetry creates the EMF log group, so that the collector needs no
// logs:CreateLogGroup: awsemf creates a group only when its stream cannot be
// made for want of one (internal/aws/cwlogs, CreateStream). The group keeps
// the stack's log retention and, like every log group of the stack,
// CloudWatch Logs' own encryption at rest.
func newTelemetry(ctx *pulumi.Context, name string, cfg Config, opts ...pulumi.ResourceOption) (*Telemetry, error) {
	t := &Telemetry{Namespace: metricsNamespace(cfg)}
	if err := ctx.RegisterComponentResource("shop:telemetry:Telemetry", name, t, opts...); err != nil {
		return nil, err
	}
	group, err := cloudwatch.NewLogGroup(ctx, name+"-metrics", &cloudwatch.LogGroupArgs{
		Name:            pulumi.String(emfLogGroupName(cfg)),
		RetentionInDays: pulumi.Int(cfg.LogRetentionDays),
	}, pulumi.Parent(t))
	if err != nil {
		return nil, err
	}
	t.LogGroupName, t.LogGroupArn = group.Name, group.Arn
	return t, ctx.RegisterResourceOutputs(t, pulumi.Map{
		"namespace": pulumi.String(t.Namespace), "logGroupName": t.LogGroupName,
	})
}

// emfLogGroupName ends in a path no service log group has (service names
// carry no slash), so the estimate tells it apart.
func emfLogGroupName(cfg Config) string {
	return fmt.Sprintf("/%s/%s/%s", cfg.Project, cfg.Stack, emfLogGroupSuffix)
}

const emfLogGroupSuffix = "telemetry/metrics"

// collectorConfig is the collector's configuration for one service, passed
// as AOT_CONFIG_CONTENT: the ADOT collector reads its whole configuration
// from that variable when it is set (pkg/config/config_factory.go; "Using
// custom configuration" for ECS in the ADOT docs), so no file or SSM
// parameter is needed.
func collectorConfig(cfg Config, service, logGroup string) (string, error) {
	var declarations []map[string]any
	var keep []string
	for _, d := range metricDeclarations {
		var selectors []string
		for _, n := range d.Names {
			selectors = append(selectors, exactly(n))
			keep = append(keep, n)
		}
		decl := map[string]any{
			"dimensions":            [][]string{d.Dimension},
			"metric_name_selectors": selectors,
		}
		var matchers []map[string]any
		for _, dim := range d.Dimension {
			matchers = append(matchers, map[string]any{
				"label_names": []string{dim},
				"regex":       "^(" + strings.Join(d.Values[dim], "|") + ")$",
			})
		}
		if len(matchers) > 0 {
			decl["label_matchers"] = matchers
		}
		declarations = append(declarations, decl)
	}
	doc := map[string]any{
		"extensions": map[string]any{
			"health_check": map[string]any{"endpoint": "127.0.0.1:" + strconv.Itoa(collectorHealthPort)},
		},
		"receivers": map[string]any{
			// Only the task's own containers, which share its network
			// namespace (awsvpc), can reach it.
			"otlp": map[string]any{"protocols": map[string]any{
				"http": map[string]any{"endpoint": "127.0.0.1:" + strconv.Itoa(otlpHTTPPort)},
			}},
		},
		"processors": map[string]any{
			"memory_limiter": map[string]any{
				"check_interval": "1s", "limit_mib": memoryLimiterMiB, "spike_limit_mib": memoryLimiterSpikeMiB,
			},
			"batch/traces":  map[string]any{"timeout": "1s", "send_batch_size": 50},
			"batch/metrics": map[string]any{"timeout": "60s"},
			// Only the declared metrics reach awsemf: the others would be
			// no metric but still be ingested as EMF log lines.
			// (OTTL: a metric matching a condition is dropped.)
			"filter/metrics": map[string]any{
				"error_mode":        "ignore",
				"metric_conditions": []string{keepOnly(keep)},
			},
		},
		"exporters": map[string]any{
			"awsxray": map[string]any{"region": cfg.Region},
			"awsemf": map[string]any{
				"region":         cfg.Region,
				"namespace":      metricsNamespace(cfg),
				"log_group_name": logGroup,
				// CloudWatch Logs takes concurrent PutLogEvents on one
				// stream (no sequence token since 2023), so a service's
				// tasks share their stream.
				"log_stream_name": service,
				// The default rollup would add a metric per dimension
				// subset: only the declared sets are billed.
				"dimension_rollup_option": "NoDimensionRollup",
				"metric_declarations":     declarations,
			},
		},
		"service": map[string]any{
			"extensions": []string{"health_check"},
			"pipelines": map[string]any{
				"traces": map[string]any{
					"receivers": []string{"otlp"}, "processors": []string{"memory_limiter", "batch/traces"},
					"exporters": []string{"awsxray"},
				},
				"metrics": map[string]any{
					"receivers": []string{"otlp"}, "processors": []string{"memory_limiter", "filter/metrics", "batch/metrics"},
					"exporters": []string{"awsemf"},
				},
			},
		},
	}
	b, err := yaml.Marshal(doc)
	return string(b), err
}

// keepOnly is the filter processor condition that drops every metric but
// the named ones.
func keepOnly(names []string) string {
	var is []string
	for _, n := range names {
		is = append(is, strconv.Quote(n))
	}
	return "not (metric.name == " + strings.Join(is, " or metric.name == ") + ")"
}

// exactly is a metric name selector (a regular expression) matching one name.
func exactly(name string) string { return "^" + strings.ReplaceAll(name, ".", `\.`) + "$" }

// appTelemetryEnv is what the app's OpenTelemetry SDK reads (the
// specification's "Environment Variable Specification"): export OTLP over
// HTTP/protobuf to the collector in the same task.
func appTelemetryEnv(cfg Config, service string) map[string]string {
	return map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:" + strconv.Itoa(otlpHTTPPort),
		"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
		"OTEL_SERVICE_NAME":           service,
		"OTEL_RESOURCE_ATTRIBUTES":    "deployment.environment.name=" + cfg.Stack,
		// A request that arrives with a sampled traceparent stays sampled
		// in every service; a new trace is recorded at the stack's ratio.
		"OTEL_TRACES_SAMPLER":         "parentbased_traceidratio",
		"OTEL_TRACES_SAMPLER_ARG":     strconv.FormatFloat(cfg.TraceSampleRatio, 'f', -1, 64),
		"OTEL_METRIC_EXPORT_INTERVAL": strconv.Itoa(metricExportIntervalMs),
	}
}

// collectorContainer is the sidecar's container definition.
func collectorContainer(cfg Config, service, logGroup, emfLogGroup string) (containerDefinition, error) {
	config, err := collectorConfig(cfg, service, emfLogGroup)
	if err != nil {
		return containerDefinition{}, err
	}
	return containerDefinition{
		Name:  collectorName,
		Image: collectorImage,
		// A collector that stops or fails its health check must never
		// stop the shop: the task keeps running without traces.
		Essential:  false,
		User:       collectorUser,
		Privileged: false, // ECS.4
		// ECS.5. The collector writes no file with this configuration:
		// no file_storage, queues in memory, no file exporter, and its own
		// log goes to stderr in a container (pkg/logger: RUN_IN_CONTAINER,
		// which the image sets); the image is FROM scratch and has no /tmp
		// to begin with.
		ReadonlyRootFilesystem: true,
		CPU:                    collectorCPU,
		Memory:                 collectorMemoryMiB,
		MemoryReservation:      collectorReserveMiB,
		Environment:            []keyValue{{Name: "AOT_CONFIG_CONTENT", Value: config}},
		HealthCheck: &healthCheck{
			Command:  []string{"CMD", collectorHealthcheck},
			Interval: 10, Timeout: 5, Retries: 3, StartPeriod: 10,
		},
		// ECS restarts it in place when it exits, instead of leaving the
		// task without a collector until the task is replaced ("Restart
		// individual containers in Amazon ECS tasks with container restart
		// policies"); 60 s, the shortest period ContainerRestartPolicy
		// allows, is how long it must have run before it may restart.
		RestartPolicy: &restartPolicy{Enabled: true, RestartAttemptPeriod: 60},
		LogConfiguration: logConfiguration{
			LogDriver: "awslogs",
			Options: map[string]string{
				"awslogs-group":         logGroup,
				"awslogs-region":        cfg.Region,
				"awslogs-stream-prefix": collectorName,
			},
		},
	}, nil
}

// collectorConfigOf reads a collector configuration back; the estimate and
// the tests read what the task definition carries.
func collectorConfigOf(c containerDefinition) (map[string]any, bool) {
	for _, kv := range c.Environment {
		if kv.Name == "AOT_CONFIG_CONTENT" {
			var doc map[string]any
			if yaml.Unmarshal([]byte(kv.Value), &doc) == nil {
				return doc, true
			}
		}
	}
	return nil, false
}
