package main

import (
	"cmp"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAWS is ECS, ELBv2 and CloudWatch Logs on one httptest server, as far
// as deploycheck uses them, speaking each service's real wire protocol so
// that the real SDK clients talk to it unchanged:
//
//   - ECS and CloudWatch Logs: AWS JSON 1.1, POST / with X-Amz-Target
//     AmazonEC2ContainerServiceV20141113.<Op> or Logs_20140328.<Op>,
//     timestamps as epoch seconds (ECS) or epoch milliseconds (Logs), errors
//     as HTTP 400 with {"__type": ..., "message": ...}
//     (https://smithy.io/2.0/aws/protocols/aws-json-1_1-protocol.html).
//   - ELBv2: AWS Query, form-encoded Action=...&Version=2015-12-01, answered
//     in XML in the 2015-12-01 namespace, errors as <ErrorResponse>
//     (https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/CommonErrors.html).
//
// The documented behaviour it encodes:
//
//   - DescribeServices
//     (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DescribeServices.html):
//     at most 10 services a call; a service ECS does not know comes back in
//     failures with reason MISSING; deployments lists the PRIMARY deployment
//     and any ACTIVE one still being replaced, each with rolloutState and
//     rolloutStateReason
//     (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Deployment.html);
//     events are newest first.
//   - The deployment circuit breaker
//     (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-circuit-breaker.html):
//     a deployment whose tasks fail to start or fail health checks becomes
//     FAILED ("ECS deployment circuit breaker: tasks failed to start."); with
//     rollback on, the last COMPLETED deployment, on the previous task
//     definition, becomes PRIMARY and IN_PROGRESS again; once the rollback
//     completes, the failed deployment is no longer listed. A service with
//     no completed deployment to return to stays on the FAILED one.
//   - Stopped tasks: ListTasks with desiredStatus STOPPED lists a service's
//     recently stopped tasks
//     (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ListTasks.html);
//     DescribeTasks takes at most 100
//     (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_DescribeTasks.html).
//     The stop codes, stopped reasons and container reasons are those of
//     "Amazon ECS stopped task error messages"
//     (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/stopped-task-error-codes.html,
//     with CannotPullContainerError in
//     https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_cannot_pull_image.html
//     and ResourceInitializationError in
//     https://docs.aws.amazon.com/AmazonECS/latest/developerguide/resource-initialization-error.html).
//   - DescribeTargetHealth
//     (https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_DescribeTargetHealth.html)
//     with the target states and reason codes of TargetHealth
//     (https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_TargetHealth.html,
//     https://docs.aws.amazon.com/elasticloadbalancing/latest/application/target-group-health-checks.html#target-health-reason-codes);
//     an unknown target group is TargetGroupNotFound.
//   - FilterLogEvents
//     (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_FilterLogEvents.html):
//     startFromHead=false returns the newest events first and is refused
//     with InvalidParameterException for a startTime before 2024;
//     logStreamNamePrefix and startTime filter; pages end with a nextToken
//     while more events remain; an unknown group is ResourceNotFoundException.
type fakeAWS struct {
	t      *testing.T
	region string

	mu       sync.Mutex
	cluster  string
	services map[string][]ecsService // by name: one state per DescribeServices call, the last repeated
	calls    map[string]int          // DescribeServices calls per service
	tasks    []ecsTask
	targets  map[string][]targetHealthDescription // by target group ARN
	logs     map[string][]logEvent                // by log group name
	pageSize int                                  // FilterLogEvents events per page
	seen     []string                             // operations, in order
}

func newFakeAWS(t *testing.T) *fakeAWS {
	return &fakeAWS{
		t: t, region: region, cluster: cluster,
		services: map[string][]ecsService{},
		calls:    map[string]int{},
		targets:  map[string][]targetHealthDescription{},
		logs:     map[string][]logEvent{},
		pageSize: 10000,
	}
}

// start serves the fake and points the SDK's default configuration at it
// with static credentials, as AWS_ENDPOINT_URL does for any AWS tool.
func (f *fakeAWS) start() {
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	f.t.Cleanup(srv.Close)
	none := filepath.Join(f.t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_ENDPOINT_URL": srv.URL,
		// A developer's service-specific endpoints would win over the
		// global one.
		"AWS_ENDPOINT_URL_ECS":                       srv.URL,
		"AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2": srv.URL,
		"AWS_ENDPOINT_URL_CLOUDWATCH_LOGS":           srv.URL,
		"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS":        "",
		"AWS_ACCESS_KEY_ID":                          "AKIDEXAMPLE",
		"AWS_SECRET_ACCESS_KEY":                      "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
		"AWS_SESSION_TOKEN":                          "",
		"AWS_PROFILE":                                "",
		"AWS_CONFIG_FILE":                            none,
		"AWS_SHARED_CREDENTIALS_FILE":                none,
		"AWS_EC2_METADATA_DISABLED":                  "true",
	} {
		f.t.Setenv(k, v)
	}
}

func (f *fakeAWS) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil || r.Method != http.MethodPost || r.URL.Path != "/" {
		f.t.Errorf("fake AWS: unexpected %s %s", r.Method, r.URL.Path)
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	target := r.Header.Get("X-Amz-Target")
	switch {
	case strings.HasPrefix(target, "AmazonEC2ContainerServiceV20141113."):
		f.json11(w, r, "ecs", strings.TrimPrefix(target, "AmazonEC2ContainerServiceV20141113."), body, f.ecs)
	case strings.HasPrefix(target, "Logs_20140328."):
		f.json11(w, r, "logs", strings.TrimPrefix(target, "Logs_20140328."), body, f.cloudWatchLogs)
	case r.Header.Get("Content-Type") == "application/x-www-form-urlencoded":
		f.query(w, r, body)
	default:
		f.t.Errorf("fake AWS: request with neither X-Amz-Target nor a form: %q", body)
		http.Error(w, "bad request", http.StatusBadRequest)
	}
}

// awsError is an error as the service would answer it.
type awsError struct {
	code, message string
}

func (f *fakeAWS) json11(w http.ResponseWriter, r *http.Request, signingName, op string, body []byte,
	handle func(op string, body []byte) (any, *awsError)) {
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		f.t.Errorf("fake AWS: %s with Content-Type %q, want application/x-amz-json-1.1", op, ct)
	}
	f.checkSignature(r, signingName, op)
	f.mu.Lock()
	f.seen = append(f.seen, op)
	out, aerr := handle(op, body)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-RequestId", "8a3d2bd4-5d1f-4a3b-9a3e-2f1b0c9d8e7f")
	if aerr != nil {
		w.Header().Set("X-Amzn-ErrorType", aerr.code)
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": aerr.code, "message": aerr.message})
		return
	}
	if err := json.NewEncoder(w).Encode(out); err != nil {
		f.t.Errorf("fake AWS: encode %s: %v", op, err)
	}
}

// checkSignature holds the request to SigV4 in the stack's region, with the
// service's signing name: a client built for the wrong region fails here.
func (f *fakeAWS) checkSignature(r *http.Request, signingName, op string) {
	auth := r.Header.Get("Authorization")
	scope := "/" + f.region + "/" + signingName + "/aws4_request"
	if !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") || !strings.Contains(auth, scope) {
		f.t.Errorf("fake AWS: %s signed %q, want SigV4 with scope %s", op, auth, scope)
	}
}

// --- ECS ---------------------------------------------------------------

func (f *fakeAWS) ecs(op string, body []byte) (any, *awsError) {
	handle, ok := map[string]func(body []byte) (any, *awsError){
		"DescribeServices": f.describeServices,
		"ListTasks":        f.listTasks,
		"DescribeTasks":    f.describeTasks,
	}[op]
	if !ok {
		f.t.Errorf("fake ECS: unexpected operation %s", op)
		return nil, &awsError{"UnknownOperationException", op}
	}
	// Each of these names the cluster, and fails in one ECS does not know.
	var in struct {
		Cluster string `json:"cluster"`
	}
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	if aerr := f.checkCluster(in.Cluster); aerr != nil {
		return nil, aerr
	}
	return handle(body)
}

func (f *fakeAWS) describeServices(body []byte) (any, *awsError) {
	var in struct {
		Services []string `json:"services"`
	}
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	return describe("services", in.Services, 10, serviceArn, func(name string) (ecsService, bool) {
		states, ok := f.services[name]
		if !ok {
			return ecsService{}, false
		}
		n := f.calls[name]
		f.calls[name]++
		return states[min(n, len(states)-1)], true
	})
}

func (f *fakeAWS) listTasks(body []byte) (any, *awsError) {
	var in struct {
		ServiceName   string `json:"serviceName"`
		DesiredStatus string `json:"desiredStatus"`
		MaxResults    int    `json:"maxResults"`
	}
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	if _, ok := f.services[in.ServiceName]; !ok {
		return nil, &awsError{"ServiceNotFoundException", "Service not found."}
	}
	if in.MaxResults < 1 || in.MaxResults > 100 {
		return nil, &awsError{"InvalidParameterException", "maxResults must be between 1 and 100."}
	}
	arns := []string{}
	for _, t := range f.tasks {
		if t.Group == "service:"+in.ServiceName && t.DesiredStatus == cmp.Or(in.DesiredStatus, "RUNNING") {
			arns = append(arns, t.TaskArn)
		}
	}
	return map[string]any{"taskArns": arns[:min(len(arns), in.MaxResults)]}, nil
}

func (f *fakeAWS) describeTasks(body []byte) (any, *awsError) {
	var in struct {
		Tasks []string `json:"tasks"`
	}
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	return describe("tasks", in.Tasks, 100, func(arn string) string { return arn }, func(arn string) (ecsTask, bool) {
		i := slices.IndexFunc(f.tasks, func(t ecsTask) bool { return t.TaskArn == arn })
		if i < 0 {
			return ecsTask{}, false
		}
		return f.tasks[i], true
	})
}

// describe answers a Describe* call as ECS does: between 1 and limit names
// a call, what it finds under field, and a name ECS does not know listed in
// failures with reason MISSING (under its ARN) rather than failing the call.
func describe[T any](field string, names []string, limit int,
	arn func(name string) string, find func(name string) (T, bool),
) (any, *awsError) {
	if len(names) == 0 || len(names) > limit {
		return nil, &awsError{"InvalidParameterException", fmt.Sprintf("%s must contain between 1 and %d items.", field, limit)}
	}
	found, failures := []T{}, []ecsFailure{}
	for _, name := range names {
		v, ok := find(name)
		if !ok {
			failures = append(failures, ecsFailure{Arn: arn(name), Reason: "MISSING"})
			continue
		}
		found = append(found, v)
	}
	return map[string]any{field: found, "failures": failures}, nil
}

func (f *fakeAWS) checkCluster(c string) *awsError {
	if c != f.cluster && c != clusterArn() {
		return &awsError{"ClusterNotFoundException", "Cluster not found."}
	}
	return nil
}

// epochSeconds is a timestamp as AWS JSON 1.1 sends it: seconds since the
// epoch, with a fraction.
type epochSeconds time.Time

func (t epochSeconds) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(float64(time.Time(t).UnixMilli())/1000, 'f', 3, 64)), nil
}

func at(t time.Time) *epochSeconds {
	e := epochSeconds(t)
	return &e
}

type ecsService struct {
	ServiceArn                    string                  `json:"serviceArn"`
	ServiceName                   string                  `json:"serviceName"`
	ClusterArn                    string                  `json:"clusterArn"`
	Status                        string                  `json:"status"`
	DesiredCount                  int                     `json:"desiredCount"`
	RunningCount                  int                     `json:"runningCount"`
	PendingCount                  int                     `json:"pendingCount"`
	TaskDefinition                string                  `json:"taskDefinition"`
	LoadBalancers                 []ecsLoadBalancer       `json:"loadBalancers"`
	DeploymentConfiguration       ecsDeploymentConfig     `json:"deploymentConfiguration"`
	Deployments                   []ecsDeployment         `json:"deployments"`
	Events                        []ecsEvent              `json:"events"`
	CreatedAt                     *epochSeconds           `json:"createdAt"`
	HealthCheckGracePeriodSeconds int                     `json:"healthCheckGracePeriodSeconds"`
	SchedulingStrategy            string                  `json:"schedulingStrategy"`
	DeploymentController          map[string]string       `json:"deploymentController"`
	CapacityProviderStrategy      []ecsCapacityProviderIt `json:"capacityProviderStrategy"`
}

type ecsCapacityProviderIt struct {
	CapacityProvider string `json:"capacityProvider"`
	Weight           int    `json:"weight"`
	Base             int    `json:"base"`
}

type ecsLoadBalancer struct {
	TargetGroupArn string `json:"targetGroupArn"`
	ContainerName  string `json:"containerName"`
	ContainerPort  int    `json:"containerPort"`
}

type ecsDeploymentConfig struct {
	DeploymentCircuitBreaker struct {
		Enable   bool `json:"enable"`
		Rollback bool `json:"rollback"`
	} `json:"deploymentCircuitBreaker"`
	MaximumPercent        int `json:"maximumPercent"`
	MinimumHealthyPercent int `json:"minimumHealthyPercent"`
}

type ecsDeployment struct {
	ID                 string        `json:"id"`
	Status             string        `json:"status"`
	TaskDefinition     string        `json:"taskDefinition"`
	DesiredCount       int           `json:"desiredCount"`
	PendingCount       int           `json:"pendingCount"`
	RunningCount       int           `json:"runningCount"`
	FailedTasks        int           `json:"failedTasks"`
	CreatedAt          *epochSeconds `json:"createdAt"`
	UpdatedAt          *epochSeconds `json:"updatedAt"`
	RolloutState       string        `json:"rolloutState,omitempty"`
	RolloutStateReason string        `json:"rolloutStateReason,omitempty"`
}

type ecsEvent struct {
	ID        string        `json:"id"`
	CreatedAt *epochSeconds `json:"createdAt"`
	Message   string        `json:"message"`
}

type ecsFailure struct {
	Arn    string `json:"arn"`
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
}

type ecsTask struct {
	TaskArn           string         `json:"taskArn"`
	ClusterArn        string         `json:"clusterArn"`
	TaskDefinitionArn string         `json:"taskDefinitionArn"`
	Group             string         `json:"group"`
	StartedBy         string         `json:"startedBy"`
	LaunchType        string         `json:"launchType"`
	AvailabilityZone  string         `json:"availabilityZone"`
	LastStatus        string         `json:"lastStatus"`
	DesiredStatus     string         `json:"desiredStatus"`
	StopCode          string         `json:"stopCode,omitempty"`
	StoppedReason     string         `json:"stoppedReason,omitempty"`
	CreatedAt         *epochSeconds  `json:"createdAt"`
	StartedAt         *epochSeconds  `json:"startedAt,omitempty"`
	StoppingAt        *epochSeconds  `json:"stoppingAt,omitempty"`
	StoppedAt         *epochSeconds  `json:"stoppedAt,omitempty"`
	Containers        []ecsContainer `json:"containers"`
}

type ecsContainer struct {
	ContainerArn string `json:"containerArn"`
	TaskArn      string `json:"taskArn"`
	Name         string `json:"name"`
	Image        string `json:"image"`
	LastStatus   string `json:"lastStatus"`
	ExitCode     *int   `json:"exitCode,omitempty"`
	Reason       string `json:"reason,omitempty"`
}

// --- ELBv2 -------------------------------------------------------------

const elbNamespace = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"

type targetHealthDescription struct {
	Target struct {
		ID               string `xml:"Id"`
		Port             int    `xml:"Port"`
		AvailabilityZone string `xml:"AvailabilityZone"`
	} `xml:"Target"`
	HealthCheckPort string `xml:"HealthCheckPort"`
	TargetHealth    struct {
		State       string `xml:"State"`
		Reason      string `xml:"Reason,omitempty"`
		Description string `xml:"Description,omitempty"`
	} `xml:"TargetHealth"`
}

func (f *fakeAWS) query(w http.ResponseWriter, r *http.Request, body []byte) {
	f.checkSignature(r, "elasticloadbalancing", "ELBv2")
	form, err := url.ParseQuery(string(body))
	if err != nil {
		f.t.Errorf("fake ELBv2: body %q: %v", body, err)
	}
	action := form.Get("Action")
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen = append(f.seen, action)
	w.Header().Set("Content-Type", "text/xml")
	if action != "DescribeTargetHealth" || form.Get("Version") != "2015-12-01" {
		f.t.Errorf("fake ELBv2: unexpected Action=%s Version=%s", action, form.Get("Version"))
		queryError(w, "InvalidAction", "unexpected action")
		return
	}
	targets, ok := f.targets[form.Get("TargetGroupArn")]
	if !ok {
		queryError(w, "TargetGroupNotFound", fmt.Sprintf("Target groups '%s' not found", form.Get("TargetGroupArn")))
		return
	}
	type result struct {
		XMLName xml.Name                  `xml:"DescribeTargetHealthResponse"`
		Xmlns   string                    `xml:"xmlns,attr"`
		Members []targetHealthDescription `xml:"DescribeTargetHealthResult>TargetHealthDescriptions>member"`
		ReqID   string                    `xml:"ResponseMetadata>RequestId"`
	}
	out, err := xml.Marshal(result{Xmlns: elbNamespace, Members: targets, ReqID: "4c5e3d2a-9b1f-4e6a-8c7d-1a2b3c4d5e6f"})
	if err != nil {
		f.t.Errorf("fake ELBv2: %v", err)
	}
	_, _ = w.Write(append([]byte(xml.Header), out...))
}

func queryError(w http.ResponseWriter, code, message string) {
	w.WriteHeader(http.StatusBadRequest)
	fmt.Fprintf(w, `<ErrorResponse xmlns="%s"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>4c5e3d2a-9b1f-4e6a-8c7d-1a2b3c4d5e6f</RequestId></ErrorResponse>`,
		elbNamespace, code, message)
}

// --- CloudWatch Logs ---------------------------------------------------

type logEvent struct {
	Stream  string
	At      time.Time
	Message string
}

// cutoff2024 is the earliest startTime FilterLogEvents accepts with
// startFromHead=false.
var cutoff2024 = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func (f *fakeAWS) cloudWatchLogs(op string, body []byte) (any, *awsError) {
	if op != "FilterLogEvents" {
		f.t.Errorf("fake Logs: unexpected operation %s", op)
		return nil, &awsError{"UnknownOperationException", op}
	}
	var in struct {
		LogGroupName        string   `json:"logGroupName"`
		LogStreamNamePrefix string   `json:"logStreamNamePrefix"`
		LogStreamNames      []string `json:"logStreamNames"`
		StartTime           *int64   `json:"startTime"`
		EndTime             *int64   `json:"endTime"`
		Limit               int      `json:"limit"`
		StartFromHead       *bool    `json:"startFromHead"`
		NextToken           string   `json:"nextToken"`
	}
	if aerr := decode(body, &in); aerr != nil {
		return nil, aerr
	}
	events, ok := f.logs[in.LogGroupName]
	if !ok {
		return nil, &awsError{"ResourceNotFoundException", "The specified log group does not exist."}
	}
	if in.LogStreamNamePrefix != "" && len(in.LogStreamNames) > 0 {
		return nil, &awsError{"InvalidParameterException", "Cannot specify both logStreamNames and logStreamNamePrefix"}
	}
	newestFirst := in.StartFromHead != nil && !*in.StartFromHead
	if newestFirst && (in.StartTime == nil || time.UnixMilli(*in.StartTime).Before(cutoff2024)) {
		return nil, &awsError{"InvalidParameterException", "startFromHead=false requires a startTime on or after 2024-01-01"}
	}
	var match []logEvent
	for _, e := range events {
		if !strings.HasPrefix(e.Stream, in.LogStreamNamePrefix) ||
			in.StartTime != nil && e.At.UnixMilli() < *in.StartTime ||
			in.EndTime != nil && e.At.UnixMilli() > *in.EndTime {
			continue
		}
		match = append(match, e)
	}
	slices.SortStableFunc(match, func(a, b logEvent) int { return a.At.Compare(b.At) })
	if newestFirst {
		slices.Reverse(match)
	}
	from := 0
	if in.NextToken != "" {
		var err error
		if from, err = strconv.Atoi(strings.TrimPrefix(in.NextToken, "f/")); err != nil {
			return nil, &awsError{"InvalidParameterException", "The specified nextToken is invalid."}
		}
	}
	size := f.pageSize
	if in.Limit > 0 {
		size = min(size, in.Limit)
	}
	to := min(len(match), from+size)
	type filtered struct {
		LogStreamName string `json:"logStreamName"`
		Timestamp     int64  `json:"timestamp"`
		Message       string `json:"message"`
		IngestionTime int64  `json:"ingestionTime"`
		EventID       string `json:"eventId"`
	}
	out := struct {
		Events    []filtered `json:"events"`
		NextToken string     `json:"nextToken,omitempty"`
	}{Events: []filtered{}}
	for i, e := range match[from:to] {
		out.Events = append(out.Events, filtered{
			LogStreamName: e.Stream, Timestamp: e.At.UnixMilli(), Message: e.Message,
			IngestionTime: e.At.Add(180 * time.Millisecond).UnixMilli(),
			EventID:       fmt.Sprintf("3797296915208617%020d", from+i),
		})
	}
	if to < len(match) {
		out.NextToken = fmt.Sprintf("f/%d", to)
	}
	return out, nil
}

// --- helpers -----------------------------------------------------------

func decode(body []byte, v any) *awsError {
	if err := json.Unmarshal(body, v); err != nil {
		return &awsError{"SerializationException", err.Error()}
	}
	return nil
}
