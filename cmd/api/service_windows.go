//go:build windows

package main

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/windows/svc"

	"github.com/rca-engine/api/internal/config"
)

// serviceName is the name to register with sc.exe (see the README).
const serviceName = "rca-engine-api"

func isService() bool {
	ok, err := svc.IsWindowsService()
	return err == nil && ok
}

// runService runs the API under the Windows service manager until it is
// told to stop. A service has no console, so logs go to api.log beside the
// executable.
func runService(lookup config.Lookup, envWarnings []string) int {
	out := io.Writer(io.Discard)
	if exe, err := os.Executable(); err == nil {
		if f, err := os.OpenFile(filepath.Join(filepath.Dir(exe), "api.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o640); err == nil {
			defer f.Close()
			out = f
		}
	}
	h := &serviceHandler{lookup: lookup, warnings: envWarnings, out: out}
	if err := svc.Run(serviceName, h); err != nil {
		return 1
	}
	return h.exitCode
}

type serviceHandler struct {
	lookup   config.Lookup
	warnings []string
	out      io.Writer
	exitCode int
}

// Execute is called by the service manager. Stop and shutdown requests end
// the server gracefully, as SIGTERM does elsewhere.
func (h *serviceHandler) Execute(_ []string, requests <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	status <- svc.Status{State: svc.StartPending}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, h.lookup, h.warnings, h.out, nil) }()
	status <- svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown}
	for {
		select {
		case err := <-done:
			if err != nil {
				h.exitCode = 1
				return true, 1
			}
			return false, 0
		case req := <-requests:
			switch req.Cmd {
			case svc.Interrogate:
				status <- req.CurrentStatus
			case svc.Stop, svc.Shutdown:
				status <- svc.Status{State: svc.StopPending, WaitHint: uint32((30 * time.Second).Milliseconds())}
				cancel()
				<-done
				return false, 0
			}
		}
	}
}
