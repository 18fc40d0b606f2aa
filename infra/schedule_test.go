package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fargateshop/shop/platform/routing"
)

// TestActiveHoursAreValidated: activeHours and activeTimezone refuse what
// the schedule cannot express, in the same list as every other setting.
func TestActiveHoursAreValidated(t *testing.T) {
	dev := stackConfig(t, "../Pulumi.dev.yaml")
	hours := func(v string) map[string]string { return map[string]string{"shop:activeHours": v} }
	zone := func(v string) map[string]string { return map[string]string{"shop:activeTimezone": v} }
	checkSettings(t, dev, []settingCase{
		{"always on", hours(""), ""},
		{"working week", hours("Mon-Fri 07:00-20:00"), ""},
		{"lower case weekend", hours("sat-sun 10:00-14:00"), ""},
		{"listed days", hours("Mon,Wed,Fri 09:00-17:30"), ""},
		{"ranges and a day", hours("Mon-Tue,Thu-Sat,Sun 00:00-23:59"), ""},
		{"range across the week's end", hours("Fri-Mon 07:00-20:00"), "activeHours"},
		{"window across midnight", hours("Mon-Fri 20:00-07:00"), "activeHours"},
		{"empty window", hours("Mon-Fri 07:00-07:00"), "activeHours"},
		{"midnight as 24:00", hours("Mon-Fri 07:00-24:00"), "activeHours"},
		{"hour without its zero", hours("Mon-Fri 7:00-20:00"), "activeHours"},
		{"twelve-hour clock", hours("Mon-Fri 7am-8pm"), "activeHours"},
		{"misspelt day", hours("Mon-Fry 07:00-20:00"), "activeHours"},
		{"full day name", hours("Monday 07:00-20:00"), "activeHours"},
		{"day named twice", hours("Mon-Fri,Wed 07:00-20:00"), "activeHours"},
		{"no time range", hours("Mon-Fri"), "activeHours"},
		{"no days", hours("07:00-20:00"), "activeHours"},
		{"a word", hours("weekdays"), "activeHours"},
		{"IANA zone", zone("America/New_York"), ""},
		{"UTC", zone("UTC"), ""},
		{"city without region", zone("Lisbon"), "activeTimezone"},
		{"misspelt zone", zone("Europe/Lisbonn"), "activeTimezone"},
		{"this machine's zone", zone("Local"), "activeTimezone"},
		{"offset", zone("+01:00"), "activeTimezone"},
		{"lower-case spelling", zone("europe/lisbon"), "activeTimezone"},
	})

	bad := with(dev, map[string]string{
		"shop:activeHours": "Fri-Mon 07:00-20:00", "shop:activeTimezone": "Lisbon", "shop:platform": "windows/amd64",
	})
	_, err := runProgram(routing.Services, "dev", bad)
	for _, want := range []string{
		`activeHours: got "Fri-Mon 07:00-20:00", day range "Fri-Mon": want it in week order, Mon to Sun`,
		`activeTimezone: got "Lisbon", want an IANA time zone`,
		"platform: got",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got error %v, want it to say %s", err, want)
		}
	}
}

// TestWindowCron: Application Auto Scaling's cron has six fields, Minutes
// Hours Day-of-month Month Day-of-week Year, with ? in one of the two day
// fields (Application Auto Scaling user guide, "Scheduled scaling",
// "Cron expressions"; its own example is cron(30 6 ? * MON *)); a
// five-field or day-of-month-and-week expression is refused by
// PutScheduledAction, which no mock would notice.
func TestWindowCron(t *testing.T) {
	tests := []struct {
		spec        string
		start, stop string
	}{
		{"Mon-Fri 07:00-20:00", "cron(0 7 ? * MON,TUE,WED,THU,FRI *)", "cron(0 20 ? * MON,TUE,WED,THU,FRI *)"},
		{"Sun,sat 09:30-17:45", "cron(30 9 ? * SAT,SUN *)", "cron(45 17 ? * SAT,SUN *)"},
		{"Wed 00:00-23:59", "cron(0 0 ? * WED *)", "cron(59 23 ? * WED *)"},
	}
	for _, tt := range tests {
		w, err := parseWindow(tt.spec, "Europe/Lisbon")
		if err != nil {
			t.Fatalf("%s: %v", tt.spec, err)
		}
		if got := w.cron(w.Start); got != tt.start {
			t.Errorf("%s: got start %s, want %s", tt.spec, got, tt.start)
		}
		if got := w.cron(w.End); got != tt.stop {
			t.Errorf("%s: got stop %s, want %s", tt.spec, got, tt.stop)
		}
		// The estimate reads back what the program writes.
		days, minute, err := parseWeeklyCron(tt.stop)
		if err != nil || fmt.Sprint(days) != fmt.Sprint(w.Days) || minute != w.End {
			t.Errorf("%s: read back %v %d %v, want %v %d", tt.stop, days, minute, err, w.Days, w.End)
		}
	}
	for _, expr := range []string{
		"rate(1 hour)", "at(2026-12-01T07:00:00)", "cron(0 7 * * ? *)", "cron(0 7 ? * MON-FRI 2026)",
		"cron(0 25 ? * MON *)", "cron(60 7 ? * MON *)", "cron(0 7 ? * 2-6 *)", "cron(0 7 ? * MON-FRI *",
	} {
		if _, _, err := parseWeeklyCron(expr); err == nil {
			t.Errorf("%s: got no error, want it refused as not a weekly cron", expr)
		}
	}
	for _, spec := range []string{"Mon-Fri", "Sat-Sun,Wed", "Mon,Wed,Fri", "Sun", "Mon-Sun"} {
		days, err := parseDays(spec)
		want := map[string]string{"Sat-Sun,Wed": "Wed,Sat-Sun"}[spec]
		if want == "" {
			want = spec
		}
		if got := dayRanges(days); err != nil || got != want {
			t.Errorf("%s: got %q %v, want %q", spec, got, err, want)
		}
	}
	if days, _, err := parseWeeklyCron("cron(0 7 ? * MON-WED,SAT *)"); err != nil ||
		fmt.Sprint(days) != fmt.Sprint([]time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Saturday}) {
		t.Errorf("MON-WED,SAT: got %v %v", days, err)
	}
}

// TestActiveHoursSchedule: with active hours every service gets a scalable
// target, even when maxTasks = minTasks, and two scheduled actions: to zero
// at the window's end, back to minTasks..maxTasks at its start, in the
// stack's time zone. Application Auto Scaling then owns desiredCount.
// Restoring minTasks at the start works because a scheduled action that
// raises the minimum above the current capacity scales out to it
// (PutScheduledAction, ScalableTargetAction: "If the current capacity is
// below the new minimum, Application Auto Scaling scales out"); min = max
// = 0 is allowed (MinCapacity/MaxCapacity >= 0; the provider passes 0, it
// is a nullable int in aws_appautoscaling_scheduled_action).
func TestActiveHoursSchedule(t *testing.T) {
	dev := stackConfig(t, "../Pulumi.dev.yaml")
	tests := []struct {
		name        string
		config      map[string]string
		start, stop string
		zone        string
		min, max    string
	}{
		{"dev", nil, "cron(0 7 ? * MON,TUE,WED,THU,FRI *)", "cron(0 20 ? * MON,TUE,WED,THU,FRI *)", "Europe/Lisbon", "1", "1"},
		{"weekend, autoscaling", map[string]string{
			"shop:activeHours": "Sat-Sun 09:30-18:15", "shop:activeTimezone": "Asia/Tokyo", "shop:maxTasks": "3",
		}, "cron(30 9 ? * SAT,SUN *)", "cron(15 18 ? * SAT,SUN *)", "Asia/Tokyo", "1", "3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := runProgram(routing.Services, "dev", with(dev, tt.config))
			if err != nil {
				t.Fatal(err)
			}
			cluster := st.one(t, "aws:ecs/cluster:Cluster", "cluster").Outputs["name"]
			if got, want := len(st.ofType("aws:appautoscaling/scheduledAction:ScheduledAction")), 2*len(routing.Services); got != want {
				t.Errorf("got %d scheduled actions, want %d (two per service)", got, want)
			}
			for _, s := range routing.Services {
				wantID := fmt.Sprintf("service/%s/%s", cluster, s.Name)
				target := st.one(t, "aws:appautoscaling/target:Target", s.Name)
				if target.Inputs["resourceId"] != wantID {
					t.Errorf("%s: got target of %v, want %s", s.Name, target.Inputs["resourceId"], wantID)
				}
				if svc := st.one(t, "aws:ecs/service:Service", s.Name); fmt.Sprint(svc.IgnoreChanges) != "[desiredCount]" {
					t.Errorf("%s: got ignoreChanges %v, want [desiredCount]: a deploy at night would start the stopped tasks", s.Name, svc.IgnoreChanges)
				}
				for _, a := range []struct{ suffix, schedule, min, max string }{
					{"stop", tt.stop, "0", "0"},
					{"start", tt.start, tt.min, tt.max},
				} {
					r := st.one(t, "aws:appautoscaling/scheduledAction:ScheduledAction", s.Name+"-"+a.suffix)
					got := fmt.Sprintf("%v %v %v %v..%v on %v/%v/%v", r.Inputs["schedule"], r.Inputs["timezone"],
						a.suffix, dig(r.Inputs, "scalableTargetAction", "minCapacity"), dig(r.Inputs, "scalableTargetAction", "maxCapacity"),
						r.Inputs["serviceNamespace"], r.Inputs["scalableDimension"], r.Inputs["resourceId"])
					want := fmt.Sprintf("%s %s %s %s..%s on ecs/ecs:service:DesiredCount/%s", a.schedule, tt.zone, a.suffix, a.min, a.max, wantID)
					if got != want {
						t.Errorf("%s-%s:\n got %s\nwant %s", s.Name, a.suffix, got, want)
					}
				}
			}
		})
	}
}

// TestEstimateRefusesUnknownSchedules: a schedule the estimate cannot read
// is an error, not a month of hours.
func TestEstimateRefusesUnknownSchedules(t *testing.T) {
	prices, err := loadPrices("us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	st := &stack{resources: []recorded{
		taskDef("catalog", "256", "512", "ARM64"),
		ecsService("catalog", 1, share("FARGATE", 0, 1)),
		scalingTarget("catalog", 1),
		scheduledAction("catalog", "stop", "rate(12 hours)", "UTC", 0, 0),
	}}
	_, err = estimateCost(st, prices, defaultAssumptions())
	if err == nil || !strings.Contains(err.Error(), `catalog-stop: schedule "rate(12 hours)": want a weekly cron`) {
		t.Errorf("got %v, want the schedule refused", err)
	}
}
