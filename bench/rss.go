package main

import (
	"bufio"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// rssKB returns a process's resident set size (VmRSS) in KiB.
func rssKB(pid int) (int, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	return parseVmRSS(f)
}

func parseVmRSS(r io.Reader) (int, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			fields := strings.Fields(v) // "12345 kB"
			if len(fields) == 2 && fields[1] == "kB" {
				return strconv.Atoi(fields[0])
			}
		}
	}
	return 0, errors.New("no VmRSS line")
}

// rssSampler records the highest VmRSS of some processes while it runs.
type rssSampler struct {
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	peak map[string]int
}

func sampleRSS(pids map[string]int, every time.Duration) *rssSampler {
	s := &rssSampler{stop: make(chan struct{}), done: make(chan struct{}), peak: map[string]int{}}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			for name, pid := range pids {
				if kb, err := rssKB(pid); err == nil {
					s.mu.Lock()
					s.peak[name] = max(s.peak[name], kb)
					s.mu.Unlock()
				}
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// Stop ends sampling and returns the peak per process in KiB.
func (s *rssSampler) Stop() map[string]int {
	close(s.stop)
	<-s.done
	return s.peak
}
