package main

import (
	"encoding/json"
	"maps"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/fargateshop/shop/platform/routing"
	"github.com/fargateshop/shop/platform/server"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/ecs"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Facts shared by every app image (see apps/Dockerfile).
const containerUser = "65532:65532" // the distroless "nonroot" user

// stopTimeout is the seconds ECS waits between SIGTERM and SIGKILL: the apps'
// drain and release (server.StopTimeout). Fargate accepts at most 120.
const stopTimeout = int(server.StopTimeout / time.Second)

// demoDataReaders are the services that load demo data when DEMO_DATA=true.
var demoDataReaders = map[string]bool{"catalog": true}

// Volumes of the task. The root filesystem is read-only (ECS.5), so anything
// that must write gets a task-scoped scratch volume instead.
func taskVolumes(cfg Config) ecs.TaskDefinitionVolumeArray {
	vols := ecs.TaskDefinitionVolumeArray{&ecs.TaskDefinitionVolumeArgs{Name: pulumi.String("tmp")}}
	if cfg.EnableExecuteCommand {
		// The SSM agent behind ECS Exec writes its state and logs here.
		vols = append(vols,
			&ecs.TaskDefinitionVolumeArgs{Name: pulumi.String("ssm-state")},
			&ecs.TaskDefinitionVolumeArgs{Name: pulumi.String("ssm-logs")})
	}
	return vols
}

// The container definition, typed so the JSON sent to ECS is checked by the
// compiler and readable by tests.
type containerDefinition struct {
	Name                   string           `json:"name"`
	Image                  string           `json:"image"`
	Essential              bool             `json:"essential"`
	User                   string           `json:"user"`
	Privileged             bool             `json:"privileged"`
	ReadonlyRootFilesystem bool             `json:"readonlyRootFilesystem"`
	CPU                    int              `json:"cpu,omitempty"`
	Memory                 int              `json:"memory,omitempty"`
	MemoryReservation      int              `json:"memoryReservation,omitempty"`
	PortMappings           []portMapping    `json:"portMappings,omitempty"`
	Environment            []keyValue       `json:"environment"`
	Secrets                []secretRef      `json:"secrets"`
	HealthCheck            *healthCheck     `json:"healthCheck"`
	StopTimeout            int              `json:"stopTimeout,omitempty"`
	DependsOn              []dependency     `json:"dependsOn,omitempty"`
	RestartPolicy          *restartPolicy   `json:"restartPolicy,omitempty"`
	LogConfiguration       logConfiguration `json:"logConfiguration"`
	MountPoints            []mountPoint     `json:"mountPoints,omitempty"`
	LinuxParameters        *linuxParameters `json:"linuxParameters,omitempty"`
}

type dependency struct {
	ContainerName string `json:"containerName"`
	Condition     string `json:"condition"`
}

type restartPolicy struct {
	Enabled              bool `json:"enabled"`
	RestartAttemptPeriod int  `json:"restartAttemptPeriod"`
}

type portMapping struct {
	Name          string `json:"name"`
	ContainerPort int    `json:"containerPort"`
	Protocol      string `json:"protocol"`
	AppProtocol   string `json:"appProtocol"`
}

type keyValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type secretRef struct {
	Name      string `json:"name"`
	ValueFrom string `json:"valueFrom"`
}

type healthCheck struct {
	Command     []string `json:"command"`
	Interval    int      `json:"interval"`
	Timeout     int      `json:"timeout"`
	Retries     int      `json:"retries"`
	StartPeriod int      `json:"startPeriod"`
}

type logConfiguration struct {
	LogDriver string            `json:"logDriver"`
	Options   map[string]string `json:"options"`
}

type mountPoint struct {
	SourceVolume  string `json:"sourceVolume"`
	ContainerPath string `json:"containerPath"`
	ReadOnly      bool   `json:"readOnly"`
}

type linuxParameters struct {
	InitProcessEnabled bool `json:"initProcessEnabled"`
}

// containerDefinitions renders the containers of a service's task. Plain settings
// go to environment; anything secret goes to secrets, which ECS resolves at
// start from Secrets Manager (ECS.8).
//
// With telemetry on, the ADOT collector runs beside the app (collectorContainer)
// and the app exports to it.
func containerDefinitions(cfg Config, spec routing.Service, all []routing.Service, image, logGroup pulumi.StringOutput,
	db *Database, secrets map[string]pulumi.StringInput, events map[string]pulumi.StringOutput, telemetry *Telemetry,
) pulumi.StringOutput {
	names := make([]string, 0, len(secrets))
	for name := range secrets {
		names = append(names, name)
	}
	sort.Strings(names)
	eventValues := pulumi.StringMap{}
	for name, v := range events {
		eventValues[name] = v
	}

	inputs := []any{image, logGroup}
	for _, name := range names {
		inputs = append(inputs, secrets[name])
	}
	if db != nil {
		inputs = append(inputs, db.Address, db.Port, db.SecretArn)
	}
	emfLogGroup := pulumi.String("").ToStringOutput()
	if telemetry != nil {
		emfLogGroup = telemetry.LogGroupName
	}
	inputs = append([]any{emfLogGroup, eventValues.ToStringMapOutput()}, inputs...)

	return pulumi.All(inputs...).ApplyT(func(v []any) (string, error) {
		emfLogGroup, v := v[0].(string), v[1:]
		eventValues, v := v[0].(map[string]string), v[1:]
		image, logGroup := v[0].(string), v[1].(string)
		var refs []secretRef
		for i, name := range names {
			refs = append(refs, secretRef{Name: name, ValueFrom: v[2+i].(string)})
		}
		env := map[string]string{
			"PORT":      strconv.Itoa(spec.Port),
			"LOG_LEVEL": cfg.LogLevel,
		}
		if cfg.DemoData && demoDataReaders[spec.Name] {
			env["DEMO_DATA"] = "true"
		}
		// Service Connect resolves each dependency by its declared name.
		for _, dep := range spec.Dependencies {
			d, _ := routing.Lookup(all, dep)
			env[envName(dep)+"_URL"] = d.URL()
		}
		if db != nil {
			rest := v[2+len(names):]
			env["PGHOST"] = rest[0].(string)
			env["PGPORT"] = strconv.Itoa(rest[1].(int))
			env["PGDATABASE"] = db.Name
			env["PGUSER"] = db.User
			env["PGSSLMODE"] = "require" // the parameter group refuses anything else
			// Not a secret: where the app reads the rotating password.
			env["PGPASSWORD_SECRET_ARN"] = rest[2].(string)
		}
		if telemetry != nil {
			maps.Copy(env, appTelemetryEnv(cfg, spec.Name))
		}
		// Topic ARNs and queue URLs (Messaging.env), and the region the
		// SDK signs its SNS and SQS calls for, set here rather than left to
		// what the platform happens to provide.
		maps.Copy(env, eventValues)
		if len(eventValues) > 0 {
			env["AWS_REGION"] = cfg.Region
		}
		mounts := []mountPoint{{SourceVolume: "tmp", ContainerPath: "/tmp"}}
		if cfg.EnableExecuteCommand {
			mounts = append(mounts,
				mountPoint{SourceVolume: "ssm-state", ContainerPath: "/var/lib/amazon"},
				mountPoint{SourceVolume: "ssm-logs", ContainerPath: "/var/log/amazon"})
		}
		binary := "/usr/local/bin/" + spec.Name
		def := containerDefinition{
			Name:                   spec.Name,
			Image:                  image,
			Essential:              true,
			User:                   containerUser,
			Privileged:             false, // ECS.4
			ReadonlyRootFilesystem: true,  // ECS.5
			PortMappings: []portMapping{{
				// Service Connect refers to the port by this name.
				Name: spec.Name, ContainerPort: spec.Port, Protocol: "tcp", AppProtocol: "http",
			}},
			Environment: sortedEnv(env),
			Secrets:     refs,
			HealthCheck: &healthCheck{
				Command:  []string{"CMD", binary, "healthcheck"},
				Interval: 10, Timeout: 5, Retries: 3, StartPeriod: 10,
			},
			StopTimeout: stopTimeout,
			LogConfiguration: logConfiguration{
				LogDriver: "awslogs",
				Options: map[string]string{
					"awslogs-group":         logGroup,
					"awslogs-region":        cfg.Region,
					"awslogs-stream-prefix": spec.Name,
				},
			},
			MountPoints: mounts,
			// A tiny init reaps zombies and forwards SIGTERM; ECS Exec
			// needs it as well.
			LinuxParameters: &linuxParameters{InitProcessEnabled: true},
		}
		defs := []containerDefinition{def}
		if telemetry != nil {
			collector, err := collectorContainer(cfg, spec.Name, logGroup, emfLogGroup)
			if err != nil {
				return "", err
			}
			// The app has every CPU unit the collector does not, so under
			// load each gets its share. It starts once the collector has
			// started, and ECS stops the app first, so the spans it flushes
			// while it drains still reach the collector (dependsOn in "Amazon
			// ECS task definition parameters"; START, as AWS's own Fargate
			// sidecar template has it, so an unhealthy collector never holds
			// the app back).
			defs[0].CPU = cfg.CPU - collectorCPU
			defs[0].DependsOn = []dependency{{ContainerName: collectorName, Condition: "START"}}
			defs = append(defs, collector)
		}
		b, err := json.Marshal(defs)
		return string(b), err
	}).(pulumi.StringOutput)
}

// envName turns a service name into an environment variable prefix.
func envName(service string) string {
	return strings.ToUpper(strings.ReplaceAll(service, "-", "_"))
}

func sortedEnv(env map[string]string) []keyValue {
	out := make([]keyValue, 0, len(env))
	for k, v := range env {
		out = append(out, keyValue{Name: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
