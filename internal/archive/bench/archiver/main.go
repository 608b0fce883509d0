// Command archiver does what PostgreSQL's archiver does, for the archive benchmarks: while files
// in DATA/pg_wal/archive_status are .ready, it runs COMMAND for the oldest (history files first)
// through /bin/sh in DATA with %p and %f replaced, one at a time, and renames .ready to .done on
// success. It ends when none is left, printing the largest peak RSS of one call:
//
//	archiver DATA COMMAND  →  "peak-rss-bytes N" on stdout
//
// With "rss FILE NAME ARGS..." it runs NAME instead (standard streams passed through), writes
// its peak RSS in bytes and the CPU time (user and system, nanoseconds) it and the children it
// waited for took to FILE ("RSS CPU") and exits with its status: how the backup benchmarks
// measure a tool's commands.
//
// It is a process of its own, and a small one, because of how Linux counts a command's peak
// RSS: Go starts children with vfork, and the exec that follows records the parent's high-water
// mark as the child's; from a benchmark process holding gigabytes of test data, every command
// would seem that large.
package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

func main() {
	if len(os.Args) > 3 && os.Args[1] == "rss" {
		os.Exit(measure(os.Args[2], os.Args[3], os.Args[4:]))
	}
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: archiver DATA COMMAND")
		os.Exit(2)
	}
	peak, err := archive(os.Args[1], os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "archiver:", err)
		os.Exit(1)
	}
	fmt.Printf("peak-rss-bytes %d\n", peak)
}

func archive(data, command string) (int64, error) {
	status := filepath.Join(data, "pg_wal", "archive_status")
	var peak int64
	for {
		entries, err := os.ReadDir(status)
		if err != nil {
			return 0, err
		}
		var ready []string
		for _, e := range entries {
			if n, ok := strings.CutSuffix(e.Name(), ".ready"); ok {
				ready = append(ready, n)
			}
		}
		if len(ready) == 0 {
			return peak, nil
		}
		sort.Slice(ready, func(i, j int) bool {
			hi, hj := strings.HasSuffix(ready[i], ".history"), strings.HasSuffix(ready[j], ".history")
			if hi != hj {
				return hi
			}
			return ready[i] < ready[j]
		})
		name := ready[0]
		cmd := exec.Command("/bin/sh", "-c", strings.NewReplacer("%p", "pg_wal/"+name, "%f", name).Replace(command))
		cmd.Dir = data
		if out, err := cmd.CombinedOutput(); err != nil {
			return 0, fmt.Errorf("archive %s: %v\n%s", name, err, out)
		}
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			peak = max(peak, ru.Maxrss<<10) // KiB on Linux
		}
		if err := os.Rename(filepath.Join(status, name+".ready"), filepath.Join(status, name+".done")); err != nil {
			return 0, err
		}
	}
}

// measure runs name with args and writes its peak RSS and CPU time to file; it returns the exit
// status.
func measure(file, name string, args []string) int {
	cmd := exec.Command(name, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	if cmd.ProcessState == nil {
		fmt.Fprintln(os.Stderr, "archiver:", err)
		return 1
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		cpu := ru.Utime.Nano() + ru.Stime.Nano()
		if err := os.WriteFile(file, []byte(fmt.Sprint(ru.Maxrss<<10, " ", cpu)), 0o600); err != nil {
			fmt.Fprintln(os.Stderr, "archiver:", err)
			return 1
		}
	}
	return cmd.ProcessState.ExitCode()
}
