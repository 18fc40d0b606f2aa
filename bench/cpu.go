package main

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat times: 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// cpuTime returns the user plus system CPU time a process has used.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(b))
}

func parseStatCPU(stat string) (time.Duration, error) {
	// The command name (field 2) is in parentheses and may hold spaces;
	// fields are counted after its closing parenthesis. utime and stime
	// are fields 14 and 15, so the 12th and 13th after it.
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 13 {
		return 0, errors.New("malformed /proc stat")
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(u+s) * time.Second / clockTicks, nil
}

// Pseudo-process names a cpuMeter always reports besides its pids.
const (
	cpuPostgres = "postgres" // every process named postgres on this machine: the backends serving the load
	cpuLoad     = "load"     // this process: vegeta sending the load and reading the answers
)

// cpuMeter measures the CPU time some processes use between its start and
// Stop, plus PostgreSQL's and the load generator's: on a shared machine,
// throughput is the cores divided by the CPU every party spends on a request.
type cpuMeter struct {
	pids     map[string]int
	start    map[string]time.Duration
	postgres map[int]time.Duration
}

func meterCPU(pids map[string]int) *cpuMeter {
	m := &cpuMeter{pids: pids, start: map[string]time.Duration{}, postgres: postgresCPU()}
	for name, pid := range pids {
		m.start[name], _ = cpuTime(pid)
	}
	m.start[cpuLoad], _ = cpuTime(os.Getpid())
	return m
}

// Stop returns the CPU time each process used since meterCPU.
func (m *cpuMeter) Stop() map[string]time.Duration {
	out := map[string]time.Duration{}
	for name, pid := range m.pids {
		if t, err := cpuTime(pid); err == nil {
			out[name] = t - m.start[name]
		}
	}
	if t, err := cpuTime(os.Getpid()); err == nil {
		out[cpuLoad] = t - m.start[cpuLoad]
	}
	// A backend that started during the run counts whole; one that ended
	// during it is lost (the services' pools keep theirs open).
	var pg time.Duration
	for pid, t := range postgresCPU() {
		pg += t - m.postgres[pid]
	}
	if pg > 0 {
		out[cpuPostgres] = pg
	}
	return out
}

// postgresCPU returns the CPU time of every process named "postgres" on
// this machine, by pid. A database elsewhere shows no process here, and
// the table then leaves PostgreSQL's share out.
func postgresCPU() map[int]time.Duration {
	out := map[int]time.Duration{}
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + d.Name() + "/stat")
		if err != nil || !bytes.Contains(b, []byte("(postgres)")) {
			continue
		}
		if t, err := parseStatCPU(string(b)); err == nil {
			out[pid] = t
		}
	}
	return out
}
