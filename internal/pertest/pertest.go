// Package pertest runs each top-level test of a package in a process of its
// own, for packages whose tests start actor nodes.
//
// protoactor's remote.Start replaces grpc's process-wide logger every time
// a node starts, while goroutines of a node stopped earlier in the same
// process may still log through it (closing or redialling connections).
// Nothing orders the two, so the race detector reports a race inside the
// libraries whenever it still remembers the old read; waiting for the old
// goroutines (see remotewait) narrows the window but cannot create that
// order. In production a process starts one node; with one process per
// test, only a test that restarts a node itself meets the old one.
package pertest

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

const childEnv = "LIVEROOM_PERTEST_CHILD"

// Main is a TestMain: in the parent process it lists the tests that -run
// selects and runs each in a child; in a child (and for benchmarks, fuzzing,
// coverage or a -run with subtests) it runs them as usual.
func Main(m *testing.M) {
	flag.Parse()
	if os.Getenv(childEnv) != "" || !isolatable() {
		os.Exit(m.Run())
	}
	names, err := list(flagValue("test.run"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "pertest: listing tests:", err)
		os.Exit(1)
	}
	failed := false
	for _, name := range names {
		cmd := exec.Command(os.Args[0], childArgs(name)...)
		cmd.Env = append(os.Environ(), childEnv+"=1")
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			failed = true
			if flagValue("test.failfast") == "true" {
				break
			}
		}
	}
	if failed {
		fmt.Println("FAIL")
		os.Exit(1)
	}
	fmt.Println("PASS")
}

func flagValue(name string) string {
	if f := flag.Lookup(name); f != nil {
		return f.Value.String()
	}
	return ""
}

// isolatable: plain test runs only; a -run naming subtests cannot be split
// by top-level name, and benchmarks, fuzzing and coverage expect one process.
func isolatable() bool {
	for _, f := range []string{"test.bench", "test.fuzz", "test.coverprofile", "test.list", "test.cpuprofile", "test.memprofile"} {
		if flagValue(f) != "" {
			return false
		}
	}
	return !strings.Contains(flagValue("test.run"), "/")
}

// list asks the test binary itself which tests and fuzz targets (whose seed
// corpus runs as a test) match pattern.
func list(pattern string) ([]string, error) {
	if pattern == "" {
		pattern = "."
	}
	cmd := exec.Command(os.Args[0], "-test.list="+pattern)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	out, err := cmd.Output()
	if err != nil {
		return nil, err
	}
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if n := strings.TrimSpace(sc.Text()); strings.HasPrefix(n, "Test") || strings.HasPrefix(n, "Fuzz") {
			names = append(names, n)
		}
	}
	return names, sc.Err()
}

// childArgs are this process's arguments with -run narrowed to one test.
// The test log (go test's cache input) is the parent's alone: children
// writing it in turn would each overwrite what the one before recorded.
func childArgs(name string) []string {
	var args []string
	skipNext := false
	for _, a := range os.Args[1:] {
		if skipNext {
			skipNext = false
			continue
		}
		switch {
		case a == "-test.run" || a == "--test.run":
			skipNext = true
			continue
		case strings.HasPrefix(a, "-test.run=") || strings.HasPrefix(a, "--test.run="),
			strings.HasPrefix(a, "-test.testlogfile=") || strings.HasPrefix(a, "--test.testlogfile="):
			continue
		}
		args = append(args, a)
	}
	return append(args, "-test.run=^"+name+"$")
}
