package run

import (
	"fmt"
	"net"
	"os"
)

// Service manager notifications (sd_notify(3)): a unit of Type=notify becomes active, and
// the units ordered After= it start, only when the process sends READY=1.
const (
	// NotifyReady tells the service manager that start-up finished and requests are served.
	NotifyReady = "READY=1"
	// NotifyStopping tells the service manager that the process began its graceful stop.
	NotifyStopping = "STOPPING=1"
)

// Notify sends state (NotifyReady, NotifyStopping, or several "KEY=value" lines) to the
// service manager over the datagram socket named by $NOTIFY_SOCKET. It reports whether a
// service manager was told: without $NOTIFY_SOCKET (not run by systemd, or not Type=notify)
// it does nothing. A name starting with "@" is an abstract socket, as systemd documents.
func Notify(state string) (bool, error) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return false, nil
	}
	if path[0] != '/' && path[0] != '@' {
		return false, fmt.Errorf("notify service manager: NOTIFY_SOCKET %q is not a unix socket path", path)
	}
	// Go maps a leading "@" to the abstract namespace itself.
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return false, fmt.Errorf("notify service manager: %w", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return false, fmt.Errorf("notify service manager: %w", err)
	}
	return true, nil
}
