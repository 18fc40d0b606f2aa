package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	logtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
)

// API limits that shape the calls below.
const (
	describeServicesMax = 10  // services per DescribeServices call
	listTasksMax        = 100 // task ARNs per ListTasks page and per DescribeTasks call
	logPagesMax         = 10  // FilterLogEvents may answer with empty pages; stop after this many

	requestTimeout = 30 * time.Second // per HTTP attempt
)

// cloud asks ECS, ELBv2 and CloudWatch Logs about one cluster's services.
type cloud struct {
	ecs     *ecs.Client
	elb     *elbv2.Client
	logs    *cloudwatchlogs.Client
	cluster string
}

// newCloud builds the clients from the default credential chain, in the
// stack's region. AWS_ENDPOINT_URL (and AWS_ENDPOINT_URL_ECS, ...) point
// them elsewhere, as the tests do.
func newCloud(ctx context.Context, region, cluster string) (*cloud, error) {
	// A request that hangs must not hold up a deploy: the SDK retries a
	// timed-out attempt, and the check reports what it could not learn.
	httpClient := awshttp.NewBuildableClient().WithTimeout(requestTimeout)
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion(region), config.WithHTTPClient(httpClient))
	if err != nil {
		return nil, fmt.Errorf("load AWS configuration: %w", err)
	}
	return &cloud{
		ecs:     ecs.NewFromConfig(cfg),
		elb:     elbv2.NewFromConfig(cfg),
		logs:    cloudwatchlogs.NewFromConfig(cfg),
		cluster: cluster,
	}, nil
}

// statuses describes the apps' services and their target groups' health.
func (c *cloud) statuses(ctx context.Context, apps []app) map[string]status {
	byService := map[string]*ecstypes.Service{}
	notFound := map[string]string{}
	var describeErr error
	for chunk := range slices.Chunk(apps, describeServicesMax) {
		names := make([]string, len(chunk))
		for i, a := range chunk {
			names[i] = a.Service
		}
		out, err := c.ecs.DescribeServices(ctx, &ecs.DescribeServicesInput{
			Cluster: aws.String(c.cluster), Services: names,
		})
		if err != nil {
			describeErr = fmt.Errorf("describe services in cluster %s: %w", c.cluster, err)
			break
		}
		for i := range out.Services {
			s := &out.Services[i]
			byService[deref(s.ServiceName)] = s
			byService[deref(s.ServiceArn)] = s
		}
		for _, f := range out.Failures {
			reason := deref(f.Reason)
			if d := deref(f.Detail); d != "" {
				reason += ": " + d
			}
			notFound[deref(f.Arn)] = reason
		}
	}

	result := map[string]status{}
	for _, a := range apps {
		if describeErr != nil {
			result[a.Name] = status{err: describeErr}
			continue
		}
		st := status{service: byService[a.Service]}
		if st.service == nil {
			st.notFound = failureFor(notFound, a.Service)
		} else {
			out, err := c.elb.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{
				TargetGroupArn: aws.String(a.TargetGroup),
			})
			if err != nil {
				st.err = fmt.Errorf("describe target health of %s: %w", a.TargetGroup, err)
			} else {
				st.targets = out.TargetHealthDescriptions
			}
		}
		result[a.Name] = st
	}
	return result
}

// failureFor finds ECS's failure for a service given by name; ECS reports
// failures by ARN, which ends in the name.
func failureFor(failures map[string]string, service string) string {
	if r, ok := failures[service]; ok {
		return r
	}
	for arn, r := range failures {
		if len(arn) > len(service) && arn[len(arn)-len(service)-1:] == "/"+service {
			return r
		}
	}
	return "not in the DescribeServices answer"
}

// stoppedTasks returns the service's recently stopped tasks, newest first.
// ECS keeps stopped tasks visible for a while (about an hour), which covers
// a deploy that just failed.
func (c *cloud) stoppedTasks(ctx context.Context, service string) ([]ecstypes.Task, error) {
	list, err := c.ecs.ListTasks(ctx, &ecs.ListTasksInput{
		Cluster:       aws.String(c.cluster),
		ServiceName:   aws.String(service),
		DesiredStatus: ecstypes.DesiredStatusStopped,
		MaxResults:    aws.Int32(listTasksMax),
	})
	if err != nil {
		return nil, fmt.Errorf("list stopped tasks: %w", err)
	}
	if len(list.TaskArns) == 0 {
		return nil, nil
	}
	out, err := c.ecs.DescribeTasks(ctx, &ecs.DescribeTasksInput{
		Cluster: aws.String(c.cluster), Tasks: list.TaskArns,
	})
	if err != nil {
		return nil, fmt.Errorf("describe stopped tasks: %w", err)
	}
	tasks := out.Tasks
	slices.SortStableFunc(tasks, func(a, b ecstypes.Task) int {
		return -cmp.Compare(taskTime(a).UnixNano(), taskTime(b).UnixNano())
	})
	return tasks, nil
}

// taskTime is when a task stopped, or as near to it as ECS says.
func taskTime(t ecstypes.Task) time.Time {
	for _, p := range []*time.Time{t.StoppedAt, t.StoppingAt, t.ExecutionStoppedAt, t.CreatedAt} {
		if p != nil {
			return *p
		}
	}
	return time.Time{}
}

// logTail returns the last n events since the given time in the group's
// streams that start with prefix, oldest first. FilterLogEvents with
// startFromHead=false pages from the newest event backwards.
func (c *cloud) logTail(ctx context.Context, group, prefix string, since time.Time, n int) ([]logtypes.FilteredLogEvent, error) {
	if n <= 0 {
		return nil, nil
	}
	in := &cloudwatchlogs.FilterLogEventsInput{
		LogGroupName:        aws.String(group),
		LogStreamNamePrefix: aws.String(prefix),
		StartTime:           aws.Int64(since.UnixMilli()),
		StartFromHead:       aws.Bool(false),
		Limit:               aws.Int32(int32(min(n, 10000))),
	}
	var events []logtypes.FilteredLogEvent
	for page := 0; page < logPagesMax && len(events) < n; page++ {
		out, err := c.logs.FilterLogEvents(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("filter log events in %s: %w", group, err)
		}
		events = append(events, out.Events...)
		if out.NextToken == nil {
			break
		}
		in.NextToken = out.NextToken
	}
	// Pages come newest first, but the order of events within a page is not
	// documented for startFromHead=false: sort everything collected by time,
	// then keep the newest n.
	slices.SortStableFunc(events, func(a, b logtypes.FilteredLogEvent) int {
		return cmp.Compare(deref(a.Timestamp), deref(b.Timestamp))
	})
	if len(events) > n {
		events = events[len(events)-n:]
	}
	return events, nil
}
