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
	tests := []struct {
		env     map[string]string
		wantURL string
		wantErr []string
	}{
		{map[string]string{"DATABASE_URL": "postgres://x/y"}, "postgres://x/y", nil},
		{map[string]string{"PGHOST": "db"}, "", nil},
		{map[string]string{}, "", []string{"DATABASE_URL or PGHOST"}},
		{map[string]string{"PGHOST": "db", "PORT": "0", "LOG_LEVEL": "loud"}, "", []string{"PORT", "LOG_LEVEL"}},
	}
	for _, tt := range tests {
		e := New(env(tt.env))
		got := e.DatabaseURL()
		e.Server()
		err := e.Err()
		if got != tt.wantURL {
			t.Errorf("env %v: DatabaseURL = %q, want %q", tt.env, got, tt.wantURL)
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
