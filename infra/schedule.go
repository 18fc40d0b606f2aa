package main

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	// Go's embedded IANA database, the fallback of time.LoadLocation when
	// the machine running `pulumi preview` has no zoneinfo (a slim CI
	// image); where it has one, that is read first.
	_ "time/tzdata"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws/appautoscaling"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// window is the weekly span in which a stack's services run (activeHours
// in activeTimezone): outside it Application Auto Scaling holds them at
// zero tasks.
type window struct {
	// Days are the days the window opens, in week order from Monday.
	Days []time.Weekday
	// Start and End are minutes after midnight, Start < End: a window
	// opens and closes on the same day.
	Start, End int
	Timezone   string
}

// weekOrder is the week as people write day ranges (Mon-Fri, Sat-Sun).
var weekOrder = []time.Weekday{
	time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday, time.Saturday, time.Sunday,
}

// parseWindow reads an activeHours value such as "Mon-Fri 07:00-20:00" or
// "Mon,Wed,Fri 09:00-17:30".
func parseWindow(spec, timezone string) (window, error) {
	fields := strings.Fields(spec)
	if len(fields) != 2 {
		return window{}, errors.New(`want days and a time range such as "Mon-Fri 07:00-20:00"`)
	}
	days, err := parseDays(fields[0])
	if err != nil {
		return window{}, err
	}
	from, to, ok := strings.Cut(fields[1], "-")
	if !ok {
		return window{}, fmt.Errorf("time range %q: want HH:MM-HH:MM", fields[1])
	}
	start, err := parseClock(from)
	if err != nil {
		return window{}, err
	}
	end, err := parseClock(to)
	if err != nil {
		return window{}, err
	}
	if start >= end {
		return window{}, fmt.Errorf("time range %q: want the start before the end on the same day (a window cannot cross midnight)", fields[1])
	}
	return window{Days: days, Start: start, End: end, Timezone: timezone}, nil
}

// parseDays reads day names (Mon or MON) and ranges of them in week order
// (Mon-Fri), separated by commas: the days of activeHours and the
// day-of-week field of a cron expression.
func parseDays(s string) ([]time.Weekday, error) {
	var days []time.Weekday
	for _, item := range strings.Split(s, ",") {
		from, to, isRange := strings.Cut(item, "-")
		first, err := dayIndex(from)
		if err != nil {
			return nil, err
		}
		last := first
		if isRange {
			if last, err = dayIndex(to); err != nil {
				return nil, err
			}
			if last < first {
				return nil, fmt.Errorf("day range %q: want it in week order, Mon to Sun (write Sat-Sun,Mon-Fri rather than Sat-Fri)", item)
			}
		}
		for _, d := range weekOrder[first : last+1] {
			if slices.Contains(days, d) {
				return nil, fmt.Errorf("days %q: %s is named twice", s, d)
			}
			days = append(days, d)
		}
	}
	slices.SortFunc(days, func(a, b time.Weekday) int { return slices.Index(weekOrder, a) - slices.Index(weekOrder, b) })
	return days, nil
}

// dayIndex is a day's place in weekOrder.
func dayIndex(name string) (int, error) {
	for i, d := range weekOrder {
		if strings.EqualFold(name, d.String()[:3]) {
			return i, nil
		}
	}
	return 0, fmt.Errorf("day %q: want Mon, Tue, Wed, Thu, Fri, Sat or Sun", name)
}

// parseClock reads HH:MM, 00:00 to 23:59, as minutes after midnight.
func parseClock(s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil || len(s) != 5 {
		return 0, fmt.Errorf("time %q: want HH:MM from 00:00 to 23:59", s)
	}
	return t.Hour()*60 + t.Minute(), nil
}

// checkTimezone accepts the IANA names Application Auto Scaling takes for a
// scheduled action's timezone. time.LoadLocation also answers "" and
// "Local", which mean this machine's zone, not one AWS knows.
func checkTimezone(name string) error {
	if name == "" || name == "Local" {
		return errors.New("want an IANA time zone such as Europe/Lisbon or UTC")
	}
	// A case-insensitive file system finds "europe/lisbon" too; AWS does
	// not: IANA names are written as they are spelled (each part starts
	// with an upper-case letter), UTC and the Etc/ zones included.
	for part := range strings.SplitSeq(name, "/") {
		if part == "" || part[0] < 'A' || part[0] > 'Z' {
			return errors.New("want an IANA time zone as spelled, such as Europe/Lisbon or UTC")
		}
	}
	if _, err := time.LoadLocation(name); err != nil {
		return errors.New("want an IANA time zone such as Europe/Lisbon or UTC")
	}
	return nil
}

// cron is the schedule that fires at minute (after midnight) on the
// window's days, in the form Application Auto Scaling documents for
// scheduled actions: cron(Minutes Hours Day-of-month Month Day-of-week
// Year), with ? for the day of the month when the day of the week is given.
// The timezone argument, not the expression, says whose midnight it is.
func (w window) cron(minute int) string {
	names := make([]string, len(w.Days))
	for i, d := range w.Days {
		names[i] = strings.ToUpper(d.String()[:3])
	}
	return fmt.Sprintf("cron(%d %d ? * %s *)", minute%60, minute/60, strings.Join(names, ","))
}

// parseWeeklyCron reads back the expressions cron writes (and day ranges
// such as MON-FRI): the days it fires and the minute after midnight.
func parseWeeklyCron(expr string) ([]time.Weekday, int, error) {
	bad := fmt.Errorf("schedule %q: want a weekly cron(M H ? * DAYS *)", expr)
	inner, okPrefix := strings.CutPrefix(expr, "cron(")
	inner, okSuffix := strings.CutSuffix(inner, ")")
	if !okPrefix || !okSuffix {
		return nil, 0, bad
	}
	f := strings.Fields(inner)
	if len(f) != 6 || f[2] != "?" || f[3] != "*" || f[5] != "*" {
		return nil, 0, bad
	}
	m, errM := strconv.Atoi(f[0])
	h, errH := strconv.Atoi(f[1])
	if errM != nil || errH != nil || m < 0 || m > 59 || h < 0 || h > 23 {
		return nil, 0, bad
	}
	days, err := parseDays(f[4])
	if err != nil {
		return nil, 0, fmt.Errorf("%w: %v", bad, err)
	}
	return days, h*60 + m, nil
}

// scheduleActions closes the window: at its end the service's scalable
// target goes to min = max = 0, which scales the service in to no task; at
// its start back to minTasks..maxTasks, which starts minTasks tasks again
// (and lets target tracking work, when the stack autoscales). Scheduled
// actions have no charge of their own.
func scheduleActions(ctx *pulumi.Context, name string, cfg Config, target *appautoscaling.Target,
	parent pulumi.ResourceOrInvokeOption,
) error {
	w := cfg.Active
	actions := []struct {
		suffix   string
		minute   int
		min, max int
	}{
		{"stop", w.End, 0, 0},
		{"start", w.Start, cfg.MinTasks, cfg.MaxTasks},
	}
	for _, a := range actions {
		if _, err := appautoscaling.NewScheduledAction(ctx, name+"-"+a.suffix, &appautoscaling.ScheduledActionArgs{
			ServiceNamespace:  target.ServiceNamespace,
			ScalableDimension: target.ScalableDimension,
			ResourceId:        target.ResourceId,
			Schedule:          pulumi.String(w.cron(a.minute)),
			Timezone:          pulumi.String(w.Timezone),
			ScalableTargetAction: &appautoscaling.ScheduledActionScalableTargetActionArgs{
				MinCapacity: pulumi.Int(a.min),
				MaxCapacity: pulumi.Int(a.max),
			},
		}, parent); err != nil {
			return err
		}
	}
	return nil
}

// scheduleLabel reads a service's scheduled actions back as its window,
// e.g. "Mon-Fri 07:00-20:00 Europe/Lisbon", for the plan's diagram: "" when
// it has none, and "scheduled" when they are not one opening and one
// closing on the same days.
func scheduleLabel(st *stack, service string) string {
	var opens, closes []string
	var days []time.Weekday
	label := ""
	for _, a := range st.ofType("aws:appautoscaling/scheduledAction:ScheduledAction") {
		if !strings.HasSuffix(text(a.Inputs["resourceId"]), "/"+service) {
			continue
		}
		label = "scheduled"
		d, minute, err := parseWeeklyCron(text(a.Inputs["schedule"]))
		if err != nil || (days != nil && fmt.Sprint(d) != fmt.Sprint(days)) {
			return label
		}
		days = d
		at := fmt.Sprintf("%02d:%02d", minute/60, minute%60)
		if n, _ := number(dig(a.Inputs, "scalableTargetAction", "maxCapacity")); n > 0 {
			opens = append(opens, at)
		} else {
			closes = append(closes, at)
		}
	}
	if len(opens) != 1 || len(closes) != 1 {
		return label
	}
	timezone := "UTC"
	for _, a := range st.ofType("aws:appautoscaling/scheduledAction:ScheduledAction") {
		if tz := text(a.Inputs["timezone"]); strings.HasSuffix(text(a.Inputs["resourceId"]), "/"+service) && tz != "" {
			timezone = tz
		}
	}
	return fmt.Sprintf("%s %s-%s %s", dayRanges(days), opens[0], closes[0], timezone)
}

// dayRanges writes days in week order as activeHours does: Mon-Fri, Sat-Sun,Wed.
func dayRanges(days []time.Weekday) string {
	var parts []string
	for i := 0; i < len(days); {
		j := i
		for j+1 < len(days) && slices.Index(weekOrder, days[j+1]) == slices.Index(weekOrder, days[j])+1 {
			j++
		}
		part := days[i].String()[:3]
		if j > i {
			part += "-" + days[j].String()[:3]
		}
		parts = append(parts, part)
		i = j + 1
	}
	return strings.Join(parts, ",")
}
