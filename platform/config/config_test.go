package config

import (
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) Lookup {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestEnvReportsEveryProblem(t *testing.T) {
	e := New(env(map[string]string{
		"PORT":    "http",
		"TIMEOUT": "-1s",
		"URL":     "catalog:8080",
		"TOKEN":   "short",
		"MODE":    "loud",
	}))
	e.Int("PORT", 8080, 1, 65535)
	e.Duration("TIMEOUT", time.Second)
	e.URL("URL", "")
	e.Secret("TOKEN", 16)
	e.Required("MISSING")
	e.OneOf("MODE", "quiet", "quiet", "normal")
	err := e.Err()
	if err == nil {
		t.Fatal("got nil error, want every problem reported")
	}
	for _, want := range []string{"PORT", "TIMEOUT", "URL", "TOKEN must be at least 16", "MISSING is required", "MODE"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "short") {
		t.Errorf("error %q leaks the secret's value", err)
	}
}

func TestEnvDefaultsAndValues(t *testing.T) {
	e := New(env(map[string]string{"PORT": " 9090 ", "URL": "http://catalog:8080/", "D": "250ms", "EMPTY": ""}))
	if got, want := e.Int("PORT", 8080, 1, 65535), 9090; got != want {
		t.Errorf("Int = %d, want %d", got, want)
	}
	if got, want := e.URL("URL", ""), "http://catalog:8080"; got != want {
		t.Errorf("URL = %q, want %q", got, want)
	}
	if got, want := e.Duration("D", time.Second), 250*time.Millisecond; got != want {
		t.Errorf("Duration = %v, want %v", got, want)
	}
	if got, want := e.String("EMPTY", "def"), "def"; got != want {
		t.Errorf("String(empty) = %q, want default %q", got, want)
	}
	if err := e.Err(); err != nil {
		t.Errorf("Err = %v, want nil", err)
	}
}

func TestDatabaseAndServer(t *testing.T) {
	const arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-0f1e2d3c-aaaa-bbbb-cccc-0123456789ab-AbC123"
	tests := []struct {
		env     map[string]string
		want    Database
		wantErr []string
	}{
		{map[string]string{"DATABASE_URL": "postgres://x/y"}, Database{URL: "postgres://x/y"}, nil},
		{map[string]string{"PGHOST": "db"}, Database{}, nil},
		{map[string]string{"PGHOST": "db", "PGPASSWORD_SECRET_ARN": arn}, Database{PasswordSecretARN: arn}, nil},
		{map[string]string{"PGHOST": "db", "PGPASSWORD_SECRET_ARN": "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:app/db-x1Y2z3"},
			Database{PasswordSecretARN: "arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:app/db-x1Y2z3"}, nil},
		{map[string]string{}, Database{}, []string{"DATABASE_URL or PGHOST"}},
		{map[string]string{"PGHOST": "db", "PORT": "0", "LOG_LEVEL": "loud"}, Database{}, []string{"PORT", "LOG_LEVEL"}},
		// A secret's name or a parameter ARN is not enough: GetSecretValue
		// by ARN is what the task role's policy allows.
		{map[string]string{"PGHOST": "db", "PGPASSWORD_SECRET_ARN": "rds!db-1234"},
			Database{PasswordSecretARN: "rds!db-1234"}, []string{"PGPASSWORD_SECRET_ARN must be the ARN"}},
		{map[string]string{"PGHOST": "db", "PGPASSWORD_SECRET_ARN": "arn:aws:ssm:eu-west-1:123456789012:parameter/db"},
			Database{PasswordSecretARN: "arn:aws:ssm:eu-west-1:123456789012:parameter/db"}, []string{"PGPASSWORD_SECRET_ARN must be the ARN"}},
		{map[string]string{"PGPASSWORD_SECRET_ARN": "arn:aws:secretsmanager:eu-west-1:1234:secret:x"},
			Database{PasswordSecretARN: "arn:aws:secretsmanager:eu-west-1:1234:secret:x"}, []string{"DATABASE_URL or PGHOST", "PGPASSWORD_SECRET_ARN must be the ARN"}},
	}
	for _, tt := range tests {
		e := New(env(tt.env))
		got := e.Database()
		e.Server()
		err := e.Err()
		if got != tt.want {
			t.Errorf("env %v: Database = %+v, want %+v", tt.env, got, tt.want)
		}
		if (err != nil) != (len(tt.wantErr) > 0) {
			t.Errorf("env %v: err = %v, want errors about %v", tt.env, err, tt.wantErr)
		}
		for _, w := range tt.wantErr {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("env %v: err = %v, want it to mention %q", tt.env, err, w)
			}
		}
	}
}

func TestDurationAtLeast(t *testing.T) {
	tests := []struct {
		value   string
		set     bool
		want    time.Duration
		wantErr string
	}{
		{set: false, want: 30 * time.Second},
		{value: "3s", set: true, want: 3 * time.Second},
		{value: "1m", set: true, want: time.Minute},
		{value: "2999ms", set: true, want: 30 * time.Second, wantErr: "LEASE must be at least 3s, got 2.999s"},
		{value: "0s", set: true, want: 30 * time.Second, wantErr: "LEASE must be a positive duration"},
		{value: "soon", set: true, want: 30 * time.Second, wantErr: "LEASE must be a positive duration"},
	}
	for _, tt := range tests {
		m := map[string]string{}
		if tt.set {
			m["LEASE"] = tt.value
		}
		e := New(env(m))
		got := e.DurationAtLeast("LEASE", 30*time.Second, 3*time.Second)
		err := e.Err()
		if got != tt.want {
			t.Errorf("LEASE=%q: got %v, want %v", tt.value, got, tt.want)
		}
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("LEASE=%q: err = %v, want %q", tt.value, err, tt.wantErr)
		}
	}
}
