package cli

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/pgcharm/postgresql/internal/jujusim/cmdline"
)

// netcheck-serve and netcheck-dial let tests prove that machines talk with their own
// addresses: the server answers each connection with the peer address it sees.
func init() {
	reg("netcheck-serve", "ADDR:PORT [COUNT]  (test helper: answer each connection with its source address)", cmdNetServe)
	reg("netcheck-dial", "ADDR:PORT  (test helper: print what the server answers)", cmdNetDial)
}

func cmdNetServe(c *env) error {
	args, err := c.parse()
	if err != nil {
		return err
	}
	if len(args) < 1 {
		return cmdline.Usagef("missing address")
	}
	count := 1
	if len(args) > 1 {
		fmt.Sscanf(args[1], "%d", &count)
	}
	l, err := net.Listen("tcp", args[0])
	if err != nil {
		return err
	}
	defer l.Close()
	fmt.Fprintln(c.stdout, "listening on", l.Addr())
	for i := 0; i < count; i++ {
		conn, err := l.Accept()
		if err != nil {
			return err
		}
		host, _, _ := net.SplitHostPort(conn.RemoteAddr().String())
		fmt.Fprintln(conn, host)
		fmt.Fprintln(c.stdout, "peer", host)
		conn.Close()
	}
	return nil
}

// dialTimeout bounds netcheck-dial's connection and answer.
const dialTimeout = 5 * time.Second

func cmdNetDial(c *env) error {
	args, err := c.parse()
	if err != nil {
		return err
	}
	if len(args) != 1 {
		return cmdline.Usagef("missing address")
	}
	// Bounded, and ended by SIGTERM (c.ctx): a SYN into a cut network would otherwise wait for
	// the kernel's connect timeout (over a minute), whatever `timeout` sends.
	d := net.Dialer{Timeout: dialTimeout}
	conn, err := d.DialContext(c.ctx, "tcp", args[0])
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetReadDeadline(time.Now().Add(dialTimeout)); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, strings.TrimSpace(line))
	return nil
}
