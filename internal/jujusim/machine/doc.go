// Package machine makes jujusim's machines out of Linux namespaces, so that every unit runs the
// way it would on a machine of its own.
//
// jujusim's machines are System machines (system.go): systemd as PID 1 in their own PID, mount,
// UTS, IPC, network and cgroup namespaces, on an overlay of an image (package image), like the
// LXD system containers Juju gives a charm; they reboot, crash and can be partitioned. The rest
// of this comment describes the older namespace Machine, which shares the host's root
// filesystem and runs no systemd (JUJUSIM_MACHINES=namespace); both share the networks.
//
// A controller is a Linux bridge with its own subnet (EnsureNetwork); the host takes the first
// address, routes between bridges without NAT (source addresses are preserved end to end) and
// routes nothing from machines to the outside world. A machine (Create) is a persistent network,
// mount, UTS and IPC namespace, kept alive by bind mounts of the namespace files under its
// directory, so it outlives the process that made it and Load finds it again:
//
//	Dir/machine.json   what Load reads
//	Dir/ns/{net,mount,uts,ipc}   the namespace files (Dir/ns is a private bind mount)
//	Dir/fs/<name>      sources of the machine's PrivateDirs, e.g. fs/var_lib_postgresql
//	Dir/fs/hosts       the machine's /etc/hosts (its hostname resolves to its address)
//
// Inside, PrivateDirs, /dev/shm and /etc/hosts are the machine's own; /run/systemd is hidden when
// the host runs systemd, since no systemd runs in a machine. Processes started in a machine
// (Command) stay there after their parent exits; Processes finds them by namespace and Destroy
// stops them. Everything here needs root, util-linux (unshare, nsenter, taskset, mount) and
// iproute2.
package machine
