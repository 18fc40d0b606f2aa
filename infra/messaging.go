package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/fargateshop/shop/platform/routing"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/cloudwatch"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/kms"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/sns"
	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/sqs"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// The queues' timing, for every consumer.
const (
	// queueVisibilitySeconds is how long a received message stays hidden
	// from other receivers. It must outlast a consumer's whole handling of
	// one message, its transaction and the delete after it (a database
	// insert for shipping: milliseconds), so a consumer must bound each
	// handler call well below it; otherwise a second receiver gets the
	// message while the first still works on it (harmless with an
	// idempotent handler, but wasted). A handler that fails leaves the
	// message to come back after this long: it is also the retry delay.
	queueVisibilitySeconds = 30
	// queueWaitSeconds is long polling: a receive waits up to 20 s, the
	// most SQS allows, for a message, so an idle consumer makes three
	// requests a minute instead of a stream of empty ones.
	queueWaitSeconds = 20
	// maxReceives is how many times a message is received before SQS
	// moves it to the dead-letter queue: routing.MaxReceiveCount, the
	// local broker's too. With the consumer's backoff that is about 8
	// minutes of retries for a passing fault, then it is parked where the
	// alarm sees it instead of retrying forever.
	maxReceives = routing.MaxReceiveCount
	// queueRetentionSeconds keeps an unconsumed message 4 days (the SQS
	// default, written out): a consumer stopped over a long weekend loses
	// nothing.
	queueRetentionSeconds = 4 * 24 * 3600
	// deadLetterRetentionSeconds is 14 days, the most SQS allows. A moved
	// message keeps its original enqueue time ("Using dead-letter queues
	// in Amazon SQS": the expiration is based on the original enqueue
	// timestamp), so the dead-letter queue must keep messages longer than
	// the source queue, or one that failed late would expire on arrival.
	deadLetterRetentionSeconds = 14 * 24 * 3600
	// maxQueueNameLen is SQS's limit on a queue name.
	maxQueueNameLen = 80
)

// topicKey is the AWS managed KMS key of SNS. Topics are encrypted at rest
// with it (SNS.1); SNS decrypts a message just before delivering it ("Amazon
// SNS data encryption", encryption at rest), so the subscribed queues need
// nothing from this key. A publisher needs kms:GenerateDataKey* and
// kms:Decrypt on the topic's key ("Amazon SNS key management", "Allow a user
// to send messages to a topic with SSE"): its task role gets them only
// through SNS (kms:ViaService) and only for its own topics (the encryption
// context SNS sends, aws:sns:topicArn), so the grant opens no other use of
// the key. A customer managed key would be needed only for AWS services that
// publish to the topic themselves (alarms, S3 events), which none do here.
const topicKey = "alias/aws/sns"

// Messaging is the stack's events: one SNS topic per declared topic, and per
// consuming service and topic a queue subscribed to it with a dead-letter
// queue, all generated from the declaration (routing.Service.Publishes and
// Consumes).
type Messaging struct {
	pulumi.ResourceState

	// Topics are by topic name.
	Topics map[string]*sns.Topic
	// Queues are by consuming service, then topic.
	Queues map[string]map[string]*sqs.Queue

	publishers map[string]string // topic -> the service publishing it
	parent     pulumi.ResourceOption
	// topicKeyArn is the ARN of topicKey's key, which publishers are
	// granted (an alias ARN in an identity policy grants nothing: KMS
	// authorizes on the key).
	topicKeyArn pulumi.StringOutput
}

type messagingArgs struct {
	Config   Config
	Services []routing.Service
}

// topicName and queueName follow the stack's naming (<project>-<stack>-...),
// like the task families, so two stacks in one account never share one.
func topicName(cfg Config, topic string) string {
	return fmt.Sprintf("%s-%s-%s", cfg.Project, cfg.Stack, topic)
}

func queueName(cfg Config, service, topic string) string {
	return fmt.Sprintf("%s-%s-%s-%s", cfg.Project, cfg.Stack, service, topic)
}

// deadLetterName is a queue's dead-letter queue.
func deadLetterName(queue string) string { return queue + "-dlq" }

// checkMessagingNames refuses, before anything is created, a declaration
// whose queue names SQS would refuse halfway through an update.
func checkMessagingNames(cfg Config, services []routing.Service) error {
	var errs []string
	for _, s := range services {
		for _, t := range s.Consumes {
			if n := deadLetterName(queueName(cfg, s.Name, t)); len(n) > maxQueueNameLen {
				errs = append(errs, fmt.Sprintf("service %q, topic %q: queue name %s is %d characters, more than the %d SQS allows (shorten the project, stack, service or topic name)",
					s.Name, t, n, len(n), maxQueueNameLen))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("messaging: %s", strings.Join(errs, "; "))
	}
	return nil
}

func newMessaging(ctx *pulumi.Context, name string, args messagingArgs, opts ...pulumi.ResourceOption) (*Messaging, error) {
	cfg := args.Config
	m := &Messaging{
		Topics: map[string]*sns.Topic{}, Queues: map[string]map[string]*sqs.Queue{},
		publishers: map[string]string{},
	}
	if err := ctx.RegisterComponentResource("shop:messaging:Messaging", name, m, opts...); err != nil {
		return nil, err
	}
	m.parent = pulumi.Parent(m)

	for _, s := range args.Services {
		for _, t := range s.Publishes {
			m.publishers[t] = s.Name
		}
	}
	if len(m.publishers) > 0 {
		// DescribeKey on a predefined AWS alias returns its AWS managed
		// key, associating one first if SNS never used it in this account
		// and region (KMS API reference, DescribeKey, KeyId).
		m.topicKeyArn = kms.LookupKeyOutput(ctx, kms.LookupKeyOutputArgs{KeyId: pulumi.String(topicKey)}, pulumi.Parent(m)).Arn()
	}
	for _, t := range routing.Topics(args.Services) {
		topic, err := sns.NewTopic(ctx, t, &sns.TopicArgs{
			Name:           pulumi.String(topicName(cfg, t)),
			KmsMasterKeyId: pulumi.String(topicKey),
			// The publisher owns the topic (the provider adds project and
			// stack).
			Tags: serviceTags(m.publishers[t]),
		}, m.parent)
		if err != nil {
			return nil, err
		}
		m.Topics[t] = topic
	}

	for _, s := range args.Services {
		for _, t := range s.Consumes {
			q, err := m.newQueue(ctx, cfg, s.Name, t)
			if err != nil {
				return nil, err
			}
			if m.Queues[s.Name] == nil {
				m.Queues[s.Name] = map[string]*sqs.Queue{}
			}
			m.Queues[s.Name][t] = q
		}
	}
	return m, nil
}

// newQueue makes a consumer's queue for topic: its dead-letter queue, the
// queue with the redrive policy, the policies that admit only the topic and
// only TLS, the subscription with raw delivery, and the queue's alarms.
func (m *Messaging) newQueue(ctx *pulumi.Context, cfg Config, service, topic string) (*sqs.Queue, error) {
	name := service + "-" + topic
	qname := queueName(cfg, service, topic)
	tags := serviceTags(service)

	// SQS-managed encryption (SSE-SQS, SQS.1) rather than a KMS key: SNS
	// can deliver into it as it is. A queue encrypted with KMS (SSE-KMS)
	// accepts messages from SNS only under a customer managed key whose
	// policy lets sns.amazonaws.com call kms:GenerateDataKey and
	// kms:Decrypt, since the AWS managed aws/sqs key's policy cannot be
	// changed ("Amazon SQS key management", configure KMS permissions for
	// AWS services); that key would cost $1 a month plus its requests and
	// the consumer would need kms:Decrypt on it, for the same protection at
	// rest.
	dlq, err := sqs.NewQueue(ctx, name+"-dlq", &sqs.QueueArgs{
		Name:                    pulumi.String(deadLetterName(qname)),
		MessageRetentionSeconds: pulumi.Int(deadLetterRetentionSeconds),
		SqsManagedSseEnabled:    pulumi.Bool(true),
		Tags:                    tags,
	}, m.parent)
	if err != nil {
		return nil, err
	}
	redrive := dlq.Arn.ApplyT(func(arn string) (string, error) {
		b, err := json.Marshal(map[string]any{"deadLetterTargetArn": arn, "maxReceiveCount": maxReceives})
		return string(b), err
	}).(pulumi.StringOutput)
	q, err := sqs.NewQueue(ctx, name, &sqs.QueueArgs{
		Name:                     pulumi.String(qname),
		VisibilityTimeoutSeconds: pulumi.Int(queueVisibilitySeconds),
		ReceiveWaitTimeSeconds:   pulumi.Int(queueWaitSeconds),
		MessageRetentionSeconds:  pulumi.Int(queueRetentionSeconds),
		SqsManagedSseEnabled:     pulumi.Bool(true),
		RedrivePolicy:            redrive,
		Tags:                     tags,
	}, m.parent)
	if err != nil {
		return nil, err
	}
	// The dead-letter queue takes messages from its own queue only; a
	// separate resource, since the queue names the dead-letter queue first.
	allow := q.Arn.ApplyT(func(arn string) (string, error) {
		b, err := json.Marshal(map[string]any{"redrivePermission": "byQueue", "sourceQueueArns": []string{arn}})
		return string(b), err
	}).(pulumi.StringOutput)
	if _, err := sqs.NewRedriveAllowPolicy(ctx, name+"-dlq", &sqs.RedriveAllowPolicyArgs{
		QueueUrl: dlq.Url, RedriveAllowPolicy: allow,
	}, m.parent); err != nil {
		return nil, err
	}

	t := m.Topics[topic]
	policy, err := sqs.NewQueuePolicy(ctx, name, &sqs.QueuePolicyArgs{
		QueueUrl: q.Url,
		Policy: policyDocument(
			statement{
				// Only this topic may send, through SNS; the confused-deputy
				// guard is the topic's ARN.
				Sid:        "TopicDelivers",
				Principals: pulumi.StringArrayMap{"Service": pulumi.ToStringArray([]string{"sns.amazonaws.com"})},
				Actions:    []string{"sqs:SendMessage"},
				Resources:  pulumi.StringArray{q.Arn},
				Conditions: pulumi.StringMapMap{"ArnEquals": pulumi.StringMap{"aws:SourceArn": t.Arn}},
			},
			denyPlainQueueAccess(q.Arn),
		),
	}, m.parent)
	if err != nil {
		return nil, err
	}
	if _, err := sqs.NewQueuePolicy(ctx, name+"-dlq", &sqs.QueuePolicyArgs{
		QueueUrl: dlq.Url,
		Policy:   policyDocument(denyPlainQueueAccess(dlq.Arn)),
	}, m.parent); err != nil {
		return nil, err
	}

	// Raw delivery: the queue receives the published body and message
	// attributes as they were sent (the event JSON, event_type and the
	// trace context), not wrapped in an SNS envelope. The subscription
	// waits for the queue policy, without which SNS cannot deliver.
	if _, err := sns.NewTopicSubscription(ctx, name, &sns.TopicSubscriptionArgs{
		Topic:              t.Arn,
		Protocol:           pulumi.String("sqs"),
		Endpoint:           q.Arn,
		RawMessageDelivery: pulumi.Bool(true),
	}, m.parent, pulumi.DependsOn([]pulumi.Resource{policy})); err != nil {
		return nil, err
	}

	if err := queueAlarms(ctx, cfg, name, q.Name, dlq.Name, tags, m.parent); err != nil {
		return nil, err
	}
	return q, nil
}

// denyPlainQueueAccess refuses every request to a queue made without TLS.
func denyPlainQueueAccess(queueArn pulumi.StringOutput) statement {
	return statement{
		Sid:        "DenyInsecureTransport",
		Deny:       true,
		Principals: anyone,
		Actions:    []string{"sqs:*"},
		Resources:  pulumi.StringArray{queueArn},
		Conditions: denyInsecureTransport,
	}
}

// queueAlarms watches a consumer's queues. Like the services' alarms they
// notify nobody yet (no SNS topic pages); they show in CloudWatch.
//
//   - <name>-dlq: a message reached the dead-letter queue (visible messages
//     above 0). Something failed maxReceives times: a poison message or a
//     bug, never fixed by waiting.
//   - <name>-age: the oldest message waits longer than eventAgeAlarmSeconds:
//     the consumer is down, stuck or too slow. Only when the setting is
//     above 0.
//
// SQS sends these metrics every 5 minutes ("Available CloudWatch metrics for
// Amazon SQS"), hence the period; an empty queue sends zeros, and missing
// data (a queue never used) is no reason to alarm.
func queueAlarms(ctx *pulumi.Context, cfg Config, name string, queue, deadLetter pulumi.StringOutput,
	tags pulumi.StringMap, parent pulumi.ResourceOption,
) error {
	if _, err := cloudwatch.NewMetricAlarm(ctx, name+"-dlq", &cloudwatch.MetricAlarmArgs{
		AlarmDescription:   pulumi.Sprintf("%s: messages in the dead-letter queue %s; read them, fix the cause, redrive them", name, deadLetter),
		Namespace:          pulumi.String("AWS/SQS"),
		MetricName:         pulumi.String("ApproximateNumberOfMessagesVisible"),
		Dimensions:         pulumi.StringMap{"QueueName": deadLetter},
		Statistic:          pulumi.String("Maximum"),
		Period:             pulumi.Int(sqsMetricSeconds),
		EvaluationPeriods:  pulumi.Int(1),
		Threshold:          pulumi.Float64(0),
		ComparisonOperator: pulumi.String("GreaterThanThreshold"),
		TreatMissingData:   pulumi.String("notBreaching"),
		Tags:               tags,
	}, parent); err != nil {
		return err
	}
	if cfg.EventAgeAlarmSeconds == 0 {
		return nil
	}
	_, err := cloudwatch.NewMetricAlarm(ctx, name+"-age", &cloudwatch.MetricAlarmArgs{
		AlarmDescription:   pulumi.Sprintf("%s: the oldest message in %s waits more than %d s; is the consumer running?", name, queue, cfg.EventAgeAlarmSeconds),
		Namespace:          pulumi.String("AWS/SQS"),
		MetricName:         pulumi.String("ApproximateAgeOfOldestMessage"),
		Dimensions:         pulumi.StringMap{"QueueName": queue},
		Statistic:          pulumi.String("Maximum"),
		Period:             pulumi.Int(sqsMetricSeconds),
		EvaluationPeriods:  pulumi.Int(1),
		Threshold:          pulumi.Float64(float64(cfg.EventAgeAlarmSeconds)),
		ComparisonOperator: pulumi.String("GreaterThanThreshold"),
		TreatMissingData:   pulumi.String("notBreaching"),
		Tags:               tags,
	}, parent)
	return err
}

// sqsMetricSeconds is how often SQS publishes its queue metrics.
const sqsMetricSeconds = 300

// allowPublishers sets each topic's policy once the publishers' task roles
// exist: the publisher's role may publish, every other principal is denied
// sns:Publish (an identity policy elsewhere in the account cannot open it),
// and nothing reaches the topic without TLS.
func (m *Messaging) allowPublishers(ctx *pulumi.Context, taskRoles map[string]pulumi.StringOutput) error {
	topics := make([]string, 0, len(m.Topics))
	for t := range m.Topics {
		topics = append(topics, t)
	}
	slices.Sort(topics)
	outputs := pulumi.Map{}
	for _, t := range topics {
		topic := m.Topics[t]
		publisher := m.publishers[t]
		role, ok := taskRoles[publisher]
		if !ok {
			return fmt.Errorf("messaging: topic %q: no task role for its publisher %q", t, publisher)
		}
		if _, err := sns.NewTopicPolicy(ctx, t, &sns.TopicPolicyArgs{
			Arn: topic.Arn,
			Policy: policyDocument(
				statement{
					Sid:        "PublisherPublishes",
					Principals: pulumi.StringArrayMap{"AWS": pulumi.StringArray{role}},
					Actions:    []string{"sns:Publish"},
					Resources:  pulumi.StringArray{topic.Arn},
				},
				statement{
					Sid:        "NobodyElsePublishes",
					Deny:       true,
					Principals: anyone,
					Actions:    []string{"sns:Publish"},
					Resources:  pulumi.StringArray{topic.Arn},
					Conditions: pulumi.StringMapMap{"ArnNotEquals": pulumi.StringMap{"aws:PrincipalArn": role}},
				},
				statement{
					Sid:        "DenyInsecureTransport",
					Deny:       true,
					Principals: anyone,
					Actions:    []string{"sns:*"},
					Resources:  pulumi.StringArray{topic.Arn},
					Conditions: denyInsecureTransport,
				},
			),
		}, m.parent); err != nil {
			return err
		}
		outputs[t] = topic.Arn
	}
	return ctx.RegisterResourceOutputs(m, pulumi.Map{"topicArns": outputs})
}

// Grants and environment of one service: the topics it publishes to and the
// queues it reads.

// publishTopics are the ARNs of the topics service publishes to.
func (m *Messaging) publishTopics(service routing.Service) pulumi.StringArray {
	var arns pulumi.StringArray
	for _, t := range service.Publishes {
		arns = append(arns, m.Topics[t].Arn)
	}
	return arns
}

// consumeQueues are the ARNs of the queues service reads.
func (m *Messaging) consumeQueues(service routing.Service) pulumi.StringArray {
	var arns pulumi.StringArray
	for _, t := range service.Consumes {
		arns = append(arns, m.Queues[service.Name][t].Arn)
	}
	return arns
}

// env is what the service's SDK code reads: routing.TopicEnv(topic), the
// topic's ARN, for a publisher; routing.QueueEnv(topic), its queue's URL,
// for a consumer.
func (m *Messaging) env(service routing.Service) map[string]pulumi.StringOutput {
	out := map[string]pulumi.StringOutput{}
	for _, t := range service.Publishes {
		out[routing.TopicEnv(t)] = m.Topics[t].Arn
	}
	for _, t := range service.Consumes {
		out[routing.QueueEnv(t)] = m.Queues[service.Name][t].Url
	}
	return out
}

// eventStatements are what an app needs for its events, on its task role:
// sns:Publish on the topics it publishes to; on its own queues, the three
// actions a consumer calls (ReceiveMessage, DeleteMessage after its
// transaction commits, ChangeMessageVisibility to hand a message back early
// or later); queue depths are read by operators and alarms, not the app. The topics' key is
// usable only through SNS and only for those topics (topicKey); the queues
// use SQS-managed keys and need no KMS grant.
func eventStatements(region string, topicKey pulumi.StringOutput, topics, queues pulumi.StringArray) []statement {
	var out []statement
	if len(topics) > 0 {
		out = append(out, statement{Sid: "PublishOwnEvents", Actions: []string{"sns:Publish"}, Resources: topics})
	}
	for i, topic := range topics {
		out = append(out, statement{
			Sid: fmt.Sprintf("EncryptOwnEvents%d", i),
			// SNS calls GenerateDataKey for a publish (named exactly: the
			// guide's GenerateDataKey* would also allow the WithoutPlaintext
			// and pair variants nobody calls).
			Actions:   []string{"kms:GenerateDataKey", "kms:Decrypt"},
			Resources: pulumi.StringArray{topicKey},
			Conditions: pulumi.StringMapMap{"StringEquals": pulumi.StringMap{
				"kms:ViaService":                         pulumi.String("sns." + region + ".amazonaws.com"),
				"kms:EncryptionContext:aws:sns:topicArn": topic,
			}},
		})
	}
	if len(queues) > 0 {
		out = append(out, statement{
			Sid:       "ConsumeOwnQueues",
			Actions:   consumerActions,
			Resources: queues,
		})
	}
	return out
}

// consumerActions are the SQS actions a consumer's task role allows.
var consumerActions = []string{
	"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
}
