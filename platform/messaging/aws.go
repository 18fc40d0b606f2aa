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
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
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
	// The configuration names a client only when it had to make one (for
	// AWS_CA_BUNDLE, say); without, the service clients would each make the
	// SDK's default one, made here instead.
	client := cfg.HTTPClient
	if client == nil {
		client = awshttp.NewBuildableClient()
	}
	cfg.HTTPClient = plainBodies{client}
	return cfg, nil
}

// plainBodies hands net/http request bodies that are plain readers.
//
// The SDK (smithy-go) wraps a request body in a reader that it closes as
// soon as the response headers are in, and whose WriteTo after that close
// fails with io.EOF. net/http may still drain the body then, with io.Copy,
// which prefers WriteTo: the error makes it close the connection while the
// response body is being read, and the SDK retries the call. For
// ReceiveMessage that retry is a loss: the broker handed the first answer's
// messages out already, so they stay invisible until their visibility
// timeout (30 s) ends. It was seen locally as a batch of 10 orders shipped
// 30 s late and the SDK's warning "failed to discard remaining HTTP response
// body ... use of closed network connection"; the answer of a fast broker
// on loopback comes early enough to hit it, AWS's rarely. A closed body's
// Read returns io.EOF, which io.Copy takes as the end. Cost: the service
// clients tune only the SDK's own client type, so AWS_DEFAULTS_MODE's
// connect and TLS timeouts would not apply through this wrapper (the
// default mode, "legacy", sets none).
type plainBodies struct{ client aws.HTTPClient }

func (p plainBodies) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = struct{ io.ReadCloser }{r.Body}
	}
	return p.client.Do(r)
}
