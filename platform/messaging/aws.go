// Package messaging carries events between services: a Publisher sends them
// to an SNS topic, a Consumer reads them from an SQS queue subscribed to it.
// The code is the AWS SDK for Go v2's on AWS and on a laptop alike; locally
// only the endpoint differs, set by the SDK's own variables
// (AWS_ENDPOINT_URL, or AWS_ENDPOINT_URL_SNS and AWS_ENDPOINT_URL_SQS).
//
// The W3C trace context travels in the message attributes "traceparent" and
// "tracestate", so one trace crosses the asynchronous hop; "event_type"
// names the event.
package messaging

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
)

// Message attribute names every publisher sets and every consumer reads.
const (
	AttrEventType   = "event_type"
	AttrTraceparent = "traceparent"
	AttrTracestate  = "tracestate"
)

// LoadAWS returns the SDK's configuration from the environment: the region
// (AWS_REGION), credentials (the task role on ECS, AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY locally) and any endpoint override.
func LoadAWS(ctx context.Context) (aws.Config, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return aws.Config{}, fmt.Errorf("aws configuration: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, fmt.Errorf("aws configuration: AWS_REGION is not set")
	}
	return cfg, nil
}
