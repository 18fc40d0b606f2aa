package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/fargateshop/shop/platform/routing"
)

// consumerQueues lists every (service, topic) pair the declaration consumes.
func consumerQueues(services []routing.Service) [][2]string {
	var out [][2]string
	for _, s := range services {
		for _, t := range s.Consumes {
			out = append(out, [2]string{s.Name, t})
		}
	}
	return out
}

// publisherOf is the service that publishes topic.
func publisherOf(t *testing.T, services []routing.Service, topic string) string {
	t.Helper()
	for _, s := range services {
		if slices.Contains(s.Publishes, topic) {
			return s.Name
		}
	}
	t.Fatalf("no publisher of %s", topic)
	return ""
}

func jsonInput(t *testing.T, r recorded, key string) map[string]any {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal([]byte(fmt.Sprint(r.Inputs[key])), &out); err != nil {
		t.Fatalf("%s %s: %s is not JSON: %v (%v)", r.Type, r.Name, key, err, r.Inputs[key])
	}
	return out
}

// TestMessagingResources holds the topics and queues to the declaration and
// to the settings the consumers rely on. The documented behaviour they
// encode: SNS decrypts a topic's messages just before delivery ("Amazon SNS
// data encryption"), so the AWS managed aws/sns key costs the queues
// nothing; SNS delivers into an SSE-SQS queue as it is, where an SSE-KMS
// one would need a customer managed key admitting sns.amazonaws.com ("Amazon
// SQS key management"); a dead-lettered message keeps its original enqueue
// time ("Using dead-letter queues in Amazon SQS"), so the dead-letter queue
// keeps messages longer than its source; 20 s is the longest receive wait.
func TestMessagingResources(t *testing.T) {
	forEach(t, func(t *testing.T, sc scenario, st *stack) {
		topics := routing.Topics(routing.Services)
		if len(topics) == 0 || len(consumerQueues(routing.Services)) == 0 {
			t.Fatal("the declaration has no topic or no consumer: nothing to test")
		}
		if got := len(st.ofType("aws:sns/topic:Topic")); got != len(topics) {
			t.Errorf("got %d topics, want %d (%v)", got, len(topics), topics)
		}
		for _, name := range topics {
			topic := st.one(t, "aws:sns/topic:Topic", name)
			if got, want := topic.Inputs["name"], "shop-"+sc.stack+"-"+name; got != want {
				t.Errorf("%s: got name %v, want %s", name, got, want)
			}
			if got := topic.Inputs["kmsMasterKeyId"]; got != "alias/aws/sns" {
				t.Errorf("%s: got KMS key %v, want alias/aws/sns", name, got)
			}
			if got, want := dig(topic.Inputs, "tags", "service"), publisherOf(t, routing.Services, name); got != want {
				t.Errorf("%s: got service tag %v, want its publisher %s", name, got, want)
			}
		}

		pairs := consumerQueues(routing.Services)
		if got := len(st.ofType("aws:sqs/queue:Queue")); got != 2*len(pairs) {
			t.Errorf("got %d queues, want a queue and a dead-letter queue for each of %v", got, pairs)
		}
		if got := len(st.ofType("aws:sns/topicSubscription:TopicSubscription")); got != len(pairs) {
			t.Errorf("got %d subscriptions, want one per consumer and topic (%v)", got, pairs)
		}
		for _, p := range pairs {
			service, topicName := p[0], p[1]
			name := service + "-" + topicName
			q := st.one(t, "aws:sqs/queue:Queue", name)
			dlq := st.one(t, "aws:sqs/queue:Queue", name+"-dlq")
			topic := st.one(t, "aws:sns/topic:Topic", topicName)

			wantQueue := map[string]any{
				"name":                     "shop-" + sc.stack + "-" + name,
				"visibilityTimeoutSeconds": 30.0,
				"receiveWaitTimeSeconds":   20.0,
				"messageRetentionSeconds":  345600.0,
				"sqsManagedSseEnabled":     true,
			}
			wantDLQ := map[string]any{
				"name":                    "shop-" + sc.stack + "-" + name + "-dlq",
				"messageRetentionSeconds": 1209600.0,
				"sqsManagedSseEnabled":    true,
			}
			for _, c := range []struct {
				r    recorded
				want map[string]any
			}{{q, wantQueue}, {dlq, wantDLQ}} {
				for k, v := range c.want {
					if got := c.r.Inputs[k]; fmt.Sprint(got) != fmt.Sprint(v) {
						t.Errorf("%s: got %s %v, want %v", c.r.Name, k, got, v)
					}
				}
				if c.r.Inputs["kmsMasterKeyId"] != nil {
					t.Errorf("%s: got KMS key %v, want SSE-SQS only", c.r.Name, c.r.Inputs["kmsMasterKeyId"])
				}
				if got := dig(c.r.Inputs, "tags", "service"); got != service {
					t.Errorf("%s: got service tag %v, want %s", c.r.Name, got, service)
				}
			}
			if num(dlq.Inputs["messageRetentionSeconds"]) <= num(q.Inputs["messageRetentionSeconds"]) {
				t.Errorf("%s: dead-letter retention %v not above the queue's %v", name, dlq.Inputs["messageRetentionSeconds"], q.Inputs["messageRetentionSeconds"])
			}

			redrive := jsonInput(t, q, "redrivePolicy")
			if redrive["deadLetterTargetArn"] != dlq.Outputs["arn"] || redrive["maxReceiveCount"] != float64(routing.MaxReceiveCount) || len(redrive) != 2 {
				t.Errorf("%s: got redrive policy %v, want the dead-letter queue %v after %d receives", name, redrive, dlq.Outputs["arn"], routing.MaxReceiveCount)
			}
			if dlq.Inputs["redrivePolicy"] != nil {
				t.Errorf("%s: the dead-letter queue has a redrive policy of its own: %v", name, dlq.Inputs["redrivePolicy"])
			}
			allow := st.one(t, "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy", name+"-dlq")
			if allow.Inputs["queueUrl"] != dlq.Outputs["url"] {
				t.Errorf("%s: redrive allow policy on %v, want the dead-letter queue %v", name, allow.Inputs["queueUrl"], dlq.Outputs["url"])
			}
			if got := jsonInput(t, allow, "redriveAllowPolicy"); got["redrivePermission"] != "byQueue" ||
				fmt.Sprint(got["sourceQueueArns"]) != fmt.Sprintf("[%v]", q.Outputs["arn"]) {
				t.Errorf("%s: got redrive allow policy %v, want byQueue from %v only", name, got, q.Outputs["arn"])
			}

			sub := st.one(t, "aws:sns/topicSubscription:TopicSubscription", name)
			if sub.Inputs["topic"] != topic.Outputs["arn"] || sub.Inputs["protocol"] != "sqs" ||
				sub.Inputs["endpoint"] != q.Outputs["arn"] || sub.Inputs["rawMessageDelivery"] != true {
				t.Errorf("%s: got subscription %v, want %v -> sqs %v with raw delivery", name, sub.Inputs, topic.Outputs["arn"], q.Outputs["arn"])
			}
			if !waitsFor(sub, "aws:sqs/queuePolicy:QueuePolicy", name) {
				t.Errorf("%s: the subscription does not wait for the queue policy that lets SNS deliver", name)
			}

			checkQueueAlarms(t, sc, st, name, q, dlq)
		}
	})
}

// checkQueueAlarms: the dead-letter alarm always, the age alarm exactly when
// eventAgeAlarmSeconds is above 0, both on SQS's 5-minute metrics.
func checkQueueAlarms(t *testing.T, sc scenario, st *stack, name string, q, dlq recorded) {
	t.Helper()
	depth := st.one(t, "aws:cloudwatch/metricAlarm:MetricAlarm", name+"-dlq")
	if depth.Inputs["namespace"] != "AWS/SQS" || depth.Inputs["metricName"] != "ApproximateNumberOfMessagesVisible" ||
		dig(depth.Inputs, "dimensions", "QueueName") != dlq.Outputs["name"] || num(depth.Inputs["threshold"]) != 0 ||
		depth.Inputs["comparisonOperator"] != "GreaterThanThreshold" || num(depth.Inputs["period"]) != 300 {
		t.Errorf("%s: got dead-letter alarm %v, want visible messages > 0 in %v", name, depth.Inputs, dlq.Outputs["name"])
	}
	seconds, _ := strconv.Atoi(sc.value("eventAgeAlarmSeconds"))
	ages := st.where("aws:cloudwatch/metricAlarm:MetricAlarm", "metricName", "ApproximateAgeOfOldestMessage")
	var age []recorded
	for _, a := range ages {
		if a.Name == name+"-age" {
			age = append(age, a)
		}
	}
	if (seconds > 0) != (len(age) == 1) {
		t.Fatalf("%s: got %d age alarms with eventAgeAlarmSeconds %d, want one exactly when it is above 0", name, len(age), seconds)
	}
	if seconds == 0 {
		return
	}
	a := age[0]
	if a.Inputs["namespace"] != "AWS/SQS" || dig(a.Inputs, "dimensions", "QueueName") != q.Outputs["name"] ||
		num(a.Inputs["threshold"]) != float64(seconds) || a.Inputs["comparisonOperator"] != "GreaterThanThreshold" ||
		a.Inputs["treatMissingData"] != "notBreaching" {
		t.Errorf("%s: got age alarm %v, want oldest message in %v above %d s", name, a.Inputs, q.Outputs["name"], seconds)
	}
}

// stmtString renders a parsed statement for exact comparison.
func stmtString(s policyStatement) string {
	return fmt.Sprintf("%s %s %v %v on %v if %v", s.Sid, s.Effect, s.Principal, strs(s.Action), strs(s.Resource), s.Condition)
}

// TestTopicAndQueuePolicies parses the resource policies and holds them to
// their statements, one by one: the topic admits its publisher's task role
// alone and nothing without TLS; the queue admits SNS for its own topic
// alone (aws:SourceArn) and nothing without TLS; the dead-letter queue
// admits nothing but what SQS moves into it itself.
//
// What AWS documents and these statements encode: SNS delivers to a queue
// only if the queue's policy allows sqs:SendMessage to the service principal
// sns.amazonaws.com, scoped with aws:SourceArn to the topic (Amazon SNS
// developer guide, "Subscribing an Amazon SQS queue to an Amazon SNS topic":
// without it the subscription exists and nothing arrives); TLS-only access
// is a Deny on aws:SecureTransport false (Amazon SQS "Security best
// practices", "Enforce encryption of data in transit"; Security Hub SNS.4
// and SQS.3 read the policies); SQS moves dead-lettered messages itself, so
// the dead-letter queue needs no Allow ("Using dead-letter queues in Amazon
// SQS"), only the redrive allow policy tested in TestMessagingResources.
func TestTopicAndQueuePolicies(t *testing.T) {
	forEach(t, func(t *testing.T, sc scenario, st *stack) {
		docs := policies(t, st)
		tls := func(service string, arn any) string {
			return fmt.Sprintf("DenyInsecureTransport Deny map[AWS:[*]] [%s:*] on [%v] if map[Bool:map[aws:SecureTransport:false]]", service, arn)
		}
		for _, name := range routing.Topics(routing.Services) {
			topic := st.one(t, "aws:sns/topic:Topic", name)
			policy := st.one(t, "aws:sns/topicPolicy:TopicPolicy", name)
			if policy.Inputs["arn"] != topic.Outputs["arn"] {
				t.Errorf("%s: policy on %v, want the topic %v", name, policy.Inputs["arn"], topic.Outputs["arn"])
			}
			role := st.one(t, "aws:iam/role:Role", publisherOf(t, routing.Services, name)+"-task").Outputs["arn"]
			want := []string{
				fmt.Sprintf("PublisherPublishes Allow map[AWS:[%v]] [sns:Publish] on [%v] if map[]", role, topic.Outputs["arn"]),
				fmt.Sprintf("NobodyElsePublishes Deny map[AWS:[*]] [sns:Publish] on [%v] if map[ArnNotEquals:map[aws:PrincipalArn:%v]]", topic.Outputs["arn"], role),
				tls("sns", topic.Outputs["arn"]),
			}
			checkStatements(t, name+" topic policy", docs["aws:sns/topicPolicy:TopicPolicy "+name], want)
		}
		for _, p := range consumerQueues(routing.Services) {
			name := p[0] + "-" + p[1]
			q := st.one(t, "aws:sqs/queue:Queue", name)
			dlq := st.one(t, "aws:sqs/queue:Queue", name+"-dlq")
			topic := st.one(t, "aws:sns/topic:Topic", p[1])
			qp := st.one(t, "aws:sqs/queuePolicy:QueuePolicy", name)
			dp := st.one(t, "aws:sqs/queuePolicy:QueuePolicy", name+"-dlq")
			if qp.Inputs["queueUrl"] != q.Outputs["url"] || dp.Inputs["queueUrl"] != dlq.Outputs["url"] {
				t.Errorf("%s: policies on %v and %v, want %v and %v", name, qp.Inputs["queueUrl"], dp.Inputs["queueUrl"], q.Outputs["url"], dlq.Outputs["url"])
			}
			checkStatements(t, name+" queue policy", docs["aws:sqs/queuePolicy:QueuePolicy "+name], []string{
				fmt.Sprintf("TopicDelivers Allow map[Service:[sns.amazonaws.com]] [sqs:SendMessage] on [%v] if map[ArnEquals:map[aws:SourceArn:%v]]",
					q.Outputs["arn"], topic.Outputs["arn"]),
				tls("sqs", q.Outputs["arn"]),
			})
			checkStatements(t, name+" dead-letter queue policy", docs["aws:sqs/queuePolicy:QueuePolicy "+name+"-dlq"], []string{
				tls("sqs", dlq.Outputs["arn"]),
			})
		}
	})
}

func checkStatements(t *testing.T, what string, got []policyStatement, want []string) {
	t.Helper()
	var rendered []string
	for _, s := range got {
		// JSON lists come back as []any; render principals the same way.
		if m := asMap(s.Principal); m != nil {
			p := map[string][]string{}
			for k, v := range m {
				p[k] = strs(v)
			}
			s.Principal = p
		}
		rendered = append(rendered, stmtString(s))
	}
	if !slices.Equal(rendered, want) {
		t.Errorf("%s:\n got %q\nwant %q", what, rendered, want)
	}
}

// TestEventPermissionsAreExact: a publisher's task role may sns:Publish on
// its own topics and nothing else of SNS, and use the topics' key only
// through SNS and for those topics (the encryption context); a consumer's
// may receive, delete and change visibility on its own queues only (never
// the dead-letter queue, never another service's queue); every other
// service has no event statement at all.
//
// The KMS statement encodes "Amazon SNS key management", "Allow a user to
// send messages to a topic with SSE" (a publisher needs kms:GenerateDataKey
// and kms:Decrypt on the topic's key) and the encryption context SNS sends,
// aws:sns:topicArn ("Amazon SNS data encryption"); its Resource is the key's
// ARN, since KMS authorizes on keys and an alias ARN in an identity policy
// grants nothing (AWS KMS developer guide, "Using aliases in IAM policies").
func TestEventPermissionsAreExact(t *testing.T) {
	forEach(t, func(t *testing.T, sc scenario, st *stack) {
		docs := policies(t, st)
		for _, s := range routing.Services {
			var got []string
			for _, stmt := range docs["aws:iam/rolePolicy:RolePolicy "+s.Name+"-task"] {
				for _, a := range strs(stmt.Action) {
					if strings.HasPrefix(a, "sns:") || strings.HasPrefix(a, "sqs:") || strings.HasPrefix(a, "kms:") {
						line := fmt.Sprintf("%s %s %v on %v", stmt.Sid, stmt.Effect, strs(stmt.Action), strs(stmt.Resource))
						if stmt.Condition != nil {
							line += fmt.Sprintf(" if %v", stmt.Condition)
						}
						got = append(got, line)
						break
					}
				}
			}
			var want []string
			if len(s.Publishes) > 0 {
				var arns []string
				for _, topic := range s.Publishes {
					arns = append(arns, fmt.Sprint(st.one(t, "aws:sns/topic:Topic", topic).Outputs["arn"]))
				}
				want = append(want, fmt.Sprintf("PublishOwnEvents Allow [sns:Publish] on %v", arns))
				for i, arn := range arns {
					want = append(want, fmt.Sprintf("EncryptOwnEvents%d Allow [kms:GenerateDataKey kms:Decrypt] on [%s] if %v", i,
						"arn:aws:kms:"+mockRegion+":"+mockAccount+":key/"+mockManagedKeyID,
						map[string]map[string]any{"StringEquals": {
							"kms:ViaService":                         "sns." + sc.config["aws:region"] + ".amazonaws.com",
							"kms:EncryptionContext:aws:sns:topicArn": arn,
						}}))
				}
			}
			if len(s.Consumes) > 0 {
				var arns []string
				for _, topic := range s.Consumes {
					arns = append(arns, fmt.Sprint(st.one(t, "aws:sqs/queue:Queue", s.Name+"-"+topic).Outputs["arn"]))
				}
				want = append(want, fmt.Sprintf("ConsumeOwnQueues Allow [sqs:ReceiveMessage sqs:DeleteMessage sqs:ChangeMessageVisibility] on %v", arns))
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s: got event statements %q, want %q", s.Name, got, want)
			}
		}
	})
}

// TestMessagingFollowsTheDeclaration: a second consumer of a topic gets its
// own queue, dead-letter queue and subscription, and grants for its queue
// only: the fan-out is the declaration's, not written out in infra.
func TestMessagingFollowsTheDeclaration(t *testing.T) {
	services := slices.Clone(routing.Services)
	for i, s := range services {
		if s.Name == "web" {
			services[i].Consumes = []string{routing.OrderEvents}
		}
	}
	st, err := runProgram(services, "dev", stackConfig(t, "../Pulumi.dev.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	topic := st.one(t, "aws:sns/topic:Topic", routing.OrderEvents).Outputs["arn"]
	var endpoints []string
	for _, sub := range st.ofType("aws:sns/topicSubscription:TopicSubscription") {
		if sub.Inputs["topic"] == topic {
			endpoints = append(endpoints, fmt.Sprint(sub.Inputs["endpoint"]))
		}
	}
	slices.Sort(endpoints)
	want := []string{
		fmt.Sprint(st.one(t, "aws:sqs/queue:Queue", "shipping-order-events").Outputs["arn"]),
		fmt.Sprint(st.one(t, "aws:sqs/queue:Queue", "web-order-events").Outputs["arn"]),
	}
	slices.Sort(want)
	if !slices.Equal(endpoints, want) {
		t.Errorf("got subscriptions to %v, want one per consumer %v", endpoints, want)
	}
	st.one(t, "aws:sqs/queue:Queue", "web-order-events-dlq")
	docs := policies(t, st)
	for _, service := range []string{"web", "shipping"} {
		own := fmt.Sprint(st.one(t, "aws:sqs/queue:Queue", service+"-order-events").Outputs["arn"])
		for _, stmt := range docs["aws:iam/rolePolicy:RolePolicy "+service+"-task"] {
			if stmt.Sid == "ConsumeOwnQueues" && fmt.Sprint(strs(stmt.Resource)) != "["+own+"]" {
				t.Errorf("%s: may consume %v, want its own queue %s only", service, strs(stmt.Resource), own)
			}
		}
	}
	if got := envMap(container(t, st, "web"))["ORDER_EVENTS_QUEUE_URL"]; got != st.one(t, "aws:sqs/queue:Queue", "web-order-events").Outputs["url"] {
		t.Errorf("web: got ORDER_EVENTS_QUEUE_URL %q, want its own queue's URL", got)
	}
}

// TestLongQueueNamesAreRefused: SQS names are at most 80 characters; a
// declaration whose dead-letter queue name would be longer is refused
// before anything is created, naming what to shorten.
func TestLongQueueNamesAreRefused(t *testing.T) {
	services := slices.Clone(routing.Services)
	long := "order-events-of-the-shop" // 24 characters, the longest topic name routing accepts
	for i, s := range services {
		switch s.Name {
		case "orders":
			services[i].Publishes = []string{long}
		case "shipping":
			services[i].Consumes = []string{long}
		}
	}
	cfg := stackConfig(t, "../Pulumi.dev.yaml")
	if _, err := runProgram(services, "dev", cfg); err != nil {
		t.Fatalf("shop-dev-shipping-%s-dlq is %d characters, within 80: got %v", long, len("shop-dev-shipping-"+long+"-dlq"), err)
	}
	stack := "a-rather-long-stack-name-for-feature-branches"
	st, err := runProgram(services, stack, cfg)
	if err == nil || !strings.Contains(err.Error(), "more than the 80 SQS allows") {
		t.Fatalf("got %v, want the queue name refused", err)
	}
	for _, r := range st.resources {
		if r.Custom {
			t.Errorf("got %s %q created, want nothing", r.Type, r.Name)
		}
	}
}

func TestMessagingSettingsAreValidated(t *testing.T) {
	dev := stackConfig(t, "../Pulumi.dev.yaml")
	checkSettings(t, dev, []settingCase{
		{"age alarm off", map[string]string{"shop:eventAgeAlarmSeconds": "0"}, ""},
		{"age alarm at a minute", map[string]string{"shop:eventAgeAlarmSeconds": "60"}, ""},
		{"age alarm at the default", map[string]string{"shop:eventAgeAlarmSeconds": "300"}, ""},
		{"age alarm under a minute", map[string]string{"shop:eventAgeAlarmSeconds": "59"}, "eventAgeAlarmSeconds"},
		{"age alarm at the retention", map[string]string{"shop:eventAgeAlarmSeconds": "345600"}, "eventAgeAlarmSeconds"},
		{"age alarm negative", map[string]string{"shop:eventAgeAlarmSeconds": "-1"}, "eventAgeAlarmSeconds"},
		{"age alarm as a duration", map[string]string{"shop:eventAgeAlarmSeconds": "5m"}, "eventAgeAlarmSeconds"},
	})
}

// TestMessagingCostLines prices, by hand, what events add to a month: SNS
// at 0.50 USD a million publishes ("Amazon SNS pricing"), SQS at 0.40 USD a
// million requests, three per event (SNS's send, the receive, the delete)
// plus a long poll every 20 s per consumer task, the topic key's requests by
// SNS's own formula (2,628,000 s / 300 s x 2 x 1 publisher = 17,520 at 0.03
// USD per 10,000), and 0.10 USD per alarm. The dead-letter queue has no line:
// only SQS writes to it. A consumer stopped outside its active hours polls
// only in them (Mon-Fri 07:00-20:00: 5 x 13 h a week, 730/168 weeks a month).
func TestMessagingCostLines(t *testing.T) {
	prices, err := loadPrices("us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, age, active string
		hours             float64
		alarms            []string
	}{
		{"default", "300", "", 730, []string{"shipping-order-events-age", "shipping-order-events-dlq"}},
		{"age alarm off", "0", "", 730, []string{"shipping-order-events-dlq"}},
		{"working hours", "0", "Mon-Fri 07:00-20:00", 5 * 13 * 52 / 12.0, []string{"shipping-order-events-dlq"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, err := runProgram(routing.Services, "dev", with(stackConfig(t, "../Pulumi.dev.yaml"),
				map[string]string{"shop:eventAgeAlarmSeconds": c.age, "shop:activeHours": c.active}))
			if err != nil {
				t.Fatal(err)
			}
			est, err := estimateCost(st, prices, defaultAssumptions())
			if err != nil {
				t.Fatal(err)
			}
			polls := c.hours * 3600 / 20 // one task of shipping
			want := []wantLine{
				{"messaging", "SNS publishes shop-dev-order-events", "", cents(0.50 * 30000 / 1e6)},
				{"messaging", "SQS requests shop-dev-shipping-order-events", "", cents(0.40 * (3*30000 + polls) / 1e6)},
				{"messaging", "KMS requests of shop-dev-order-events", "", cents(0.03 * 17520 / 10000)},
			}
			for _, a := range c.alarms {
				want = append(want, wantLine{"messaging", "CloudWatch alarm " + a + " (standard)", "", 0.10})
			}
			checkLines(t, est, want)
			var messaging []string
			for _, l := range est.Lines {
				if l.Component == "messaging" {
					messaging = append(messaging, l.Item)
				}
			}
			if len(messaging) != len(want) {
				t.Errorf("got messaging lines %q, want %d", messaging, len(want))
			}
		})
	}
}
