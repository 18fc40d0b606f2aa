// Package brokertest proves that the local SNS/SQS broker, goaws v0.5.4
// configured by compose/goaws.yaml, does what the services rely on when they
// talk to it through the AWS SDK for Go v2: fan-out from the topic to the
// raw-subscribed queue, message attributes, visibility timeout, redrive to
// the dead-letter queue, long polling, deletes and queue depth. It also pins
// the ways goaws differs from AWS that docs/reliability.md lists, so a goaws
// upgrade that changes one fails here and the list is corrected.
//
// goaws runs in the test process (its router behind httptest), so the test
// needs neither Docker nor a network. It is a module of its own so that
// goaws and its dependencies stay out of the services' modules.
package brokertest
