package simtest

// Faults of system machines (jujusim reboot, crash, start-machine, partition, heal,
// remove-machine --force), each on a machine id or a unit's machine, running the hooks they
// cause. They fail the test on error.

// Reboot powers the machine of target (a machine id or a unit) off cleanly and boots it
// again; its units run start.
func (s *Sim) Reboot(target string) { s.T.Helper(); s.Run("reboot", target) }

// Crash kills the machine at once (SIGKILL of PID 1): its units stay, lost.
func (s *Sim) Crash(target string) { s.T.Helper(); s.Run("crash", target) }

// StartMachine boots a crashed machine on the disk the crash left; its units run start.
func (s *Sim) StartMachine(target string) { s.T.Helper(); s.Run("start-machine", target) }

// Partition cuts the machine's network both ways; its units' hooks wait for Heal.
func (s *Sim) Partition(target string) { s.T.Helper(); s.Run("partition", target) }

// Heal restores a partitioned machine's network; held hooks run.
func (s *Sim) Heal(target string) { s.T.Helper(); s.Run("heal", target) }

// SystemMachines makes the test's machines system machines (systemd as PID 1), whatever the
// default; faults need them.
func (s *Sim) SystemMachines() { s.T.Helper(); s.env = append(s.env, "JUJUSIM_MACHINES=system") }

// Setenv passes KEY=VALUE to every later jujusim command of the test (JUJUSIM_LEASE_TIME=2s, say).
func (s *Sim) Setenv(key, value string) { s.env = append(s.env, key+"="+value) }
