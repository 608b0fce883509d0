package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/pgcharm/postgresql/internal/pgconf"
	"github.com/pgcharm/postgresql/internal/safefs"
)

// Cluster is one Debian PostgreSQL cluster: its configuration lives in
// ConfDir (/etc/postgresql/<version>/<name>), its data in DataDir. The charm
// hands it to the failover agent as it recorded it, in the agent's
// configuration file: hence the JSON names.
type Cluster struct {
	Version   string `json:"version"` // major version, "15"
	Name      string `json:"name"`    // cluster name, "main"
	DataDir   string `json:"data-dir"`
	ConfDir   string `json:"conf-dir"`
	SocketDir string `json:"socket-dir"`
	Port      int    `json:"port"`
}

func (c *Cluster) String() string { return c.Version + "/" + c.Name }

// BinDir holds the server programs of the cluster's version.
func (c *Cluster) BinDir() string { return BinDir(c.Version) }

// LogFile is where pg_ctlcluster sends the server's log.
func (c *Cluster) LogFile() string {
	return fmt.Sprintf("/var/log/postgresql/postgresql-%s-%s.log", c.Version, c.Name)
}

// DefaultDataDir is Debian's data directory for a cluster without storage.
func DefaultDataDir(version, name string) string {
	return filepath.Join("/var/lib/postgresql", version, name)
}

// StorageDataDir is the data directory on the pgdata storage mounted at
// mount: /srv/pgdata/<version>/main for the charm's usual layout.
func StorageDataDir(mount, version, name string) string {
	return filepath.Join(mount, version, name)
}

// ConfDir is Debian's configuration directory of a cluster.
func ConfDir(version, name string) string {
	return filepath.Join("/etc/postgresql", version, name)
}

// ErrNoCluster means Debian has no configuration for the cluster.
var ErrNoCluster = errors.New("cluster not configured")

// ErrClusterExists means the cluster is already configured.
var ErrClusterExists = errors.New("cluster already configured")

// DatabaseExistsError refuses to initialise a data directory that already
// holds a database; the caller decides whether to Adopt it.
type DatabaseExistsError struct {
	DataDir string
	Major   string
}

func (e *DatabaseExistsError) Error() string {
	return fmt.Sprintf("%s already holds a PostgreSQL %s database", e.DataDir, e.Major)
}

// VersionMismatchError means a data directory holds a database of another
// major version than the one installed. The charm blocks on it: only an
// upgrade (pg_upgrade) can bring such data to this version.
type VersionMismatchError struct {
	DataDir string
	Found   string // major version in PG_VERSION
	Want    string
}

func (e *VersionMismatchError) Error() string {
	return fmt.Sprintf("%s holds a PostgreSQL %s database but this unit runs PostgreSQL %s", e.DataDir, e.Found, e.Want)
}

var clusterNameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

func checkClusterName(version, name string) error {
	if err := checkVersion(version); err != nil {
		return err
	}
	if !clusterNameRE.MatchString(name) {
		return fmt.Errorf("invalid cluster name %q", name)
	}
	return nil
}

// HasDatabase reports whether dataDir holds a PostgreSQL database and of
// which major version (its PG_VERSION file). A missing directory or file is
// no database; any other failure to read is an error, never "empty", so that
// nothing is ever initialised over data we could not inspect.
func HasDatabase(dataDir string) (major string, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "PG_VERSION"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("inspect %s: %w", dataDir, err)
	}
	return strings.TrimSpace(string(b)), true, nil
}

// Lookup reads the configuration Debian keeps for a cluster.
func Lookup(version, name string) (*Cluster, error) {
	if err := checkClusterName(version, name); err != nil {
		return nil, err
	}
	confDir := ConfDir(version, name)
	data, err := os.ReadFile(filepath.Join(confDir, "postgresql.conf"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("cluster %s/%s: %w", version, name, ErrNoCluster)
	}
	if err != nil {
		return nil, fmt.Errorf("cluster %s/%s: %w", version, name, err)
	}
	// Lenient: an odd line an administrator added must not hide the
	// cluster; the server itself is the judge of that file.
	s, err := pgconf.ParseLenient(string(data))
	if err != nil {
		return nil, fmt.Errorf("cluster %s/%s: %s/postgresql.conf: %w", version, name, confDir, err)
	}
	c := &Cluster{Version: version, Name: name, ConfDir: confDir, Port: 5432, SocketDir: "/var/run/postgresql"}
	c.DataDir, _ = s.Get("data_directory")
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir(version, name)
	}
	if p, ok := s.Get("port"); ok {
		if c.Port, err = strconv.Atoi(p); err != nil {
			return nil, fmt.Errorf("cluster %s/%s: bad port %q", version, name, p)
		}
	}
	if d, ok := s.Get("unix_socket_directories"); ok && d != "" {
		c.SocketDir = strings.TrimSpace(strings.Split(d, ",")[0])
	}
	return c, nil
}

// CreateOptions shape a new cluster. Zero values take Debian's defaults.
type CreateOptions struct {
	DataDir   string // default /var/lib/postgresql/<version>/<name>
	Port      int    // default: the next free port from 5432, chosen by pg_createcluster
	SocketDir string // default /var/run/postgresql
	Locale    string // e.g. "C" or "en_US.UTF-8"
	Encoding  string // e.g. "UTF8"
}

// Create initialises a new cluster with pg_createcluster, data checksums on,
// and gives it the charm's pg_ident.conf and a pg_hba.conf that lets the
// hook (root) in through the socket. It refuses a data directory that holds
// a database (DatabaseExistsError: Adopt it instead) or a cluster that is
// already configured (ErrClusterExists). The server is not started.
func Create(ctx context.Context, version, name string, o CreateOptions) (*Cluster, error) {
	if err := checkClusterName(version, name); err != nil {
		return nil, err
	}
	dataDir := o.DataDir
	if dataDir == "" {
		dataDir = DefaultDataDir(version, name)
	}
	if _, err := os.Stat(filepath.Join(ConfDir(version, name), "postgresql.conf")); err == nil {
		return nil, fmt.Errorf("create cluster %s/%s: %w", version, name, ErrClusterExists)
	}
	if major, ok, err := HasDatabase(dataDir); err != nil {
		return nil, fmt.Errorf("create cluster %s/%s: %w", version, name, err)
	} else if ok {
		return nil, fmt.Errorf("create cluster %s/%s: %w", version, name, &DatabaseExistsError{DataDir: dataDir, Major: major})
	}
	if err := prepareDataDir(dataDir); err != nil {
		return nil, fmt.Errorf("create cluster %s/%s: %w", version, name, err)
	}
	args := []string{version, name, "--datadir", dataDir}
	args = append(args, portSocketArgs(o.Port, o.SocketDir)...)
	if o.Locale != "" {
		args = append(args, "--locale", o.Locale)
	}
	if o.Encoding != "" {
		args = append(args, "--encoding", o.Encoding)
	}
	args = append(args, "--", "--data-checksums")
	if _, err := run(ctx, cmdSpec{}, "pg_createcluster", args...); err != nil {
		return nil, fmt.Errorf("create cluster %s/%s: %w", version, name, err)
	}
	return finishConfig(version, name)
}

func portSocketArgs(port int, socketDir string) []string {
	var args []string
	if port > 0 {
		args = append(args, "--port", strconv.Itoa(port))
	}
	if socketDir != "" {
		args = append(args, "--socketdir", socketDir)
	}
	return args
}

// prepareDataDir creates the data directory (and missing parents) for the
// postgres user. initdb needs an empty or missing directory it owns. The
// parent may be postgres's (storage/<version>), so the directory is made and
// given away through an open parent with no link followed: a link postgres
// planted in its place makes this fail instead of chowning what it names.
func prepareDataDir(dataDir string) error {
	if err := safefs.CheckPath(dataDir); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	parent := filepath.Dir(dataDir)
	if _, err := os.Lstat(parent); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return err
		}
		if err := chownDir(parent); err != nil {
			return err
		}
	}
	pd, err := safefs.OpenDir(parent)
	if err != nil {
		return err
	}
	defer pd.Close()
	d, err := pd.MkdirAll(filepath.Base(dataDir), 0o700, nil)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Chmod(0o700); err != nil {
		return err
	}
	return chownOpen(d)
}

// finishConfig writes the files this package owns in a new configuration
// directory, so that the hook can always connect.
func finishConfig(version, name string) (*Cluster, error) {
	c, err := Lookup(version, name)
	if err != nil {
		return nil, err
	}
	if _, err := WriteIdent(c); err != nil {
		return nil, err
	}
	if _, err := WriteHBA(c, nil); err != nil {
		return nil, err
	}
	if err := ManualStart(c); err != nil {
		return nil, err
	}
	return c, nil
}

// AdoptOptions shape the configuration made for an existing data directory.
type AdoptOptions struct {
	DataDir   string // required: the directory holding the database
	Port      int
	SocketDir string
}

// Adopt makes Debian's configuration for a data directory that already
// holds a database of this major version, typically a pgdata volume from
// another machine whose configuration stayed behind. Nothing is
// initialised: the data, roles and tables are used as they are. Files are
// given to the postgres user when their owner differs (uids differ between
// machines). A database of another major version is a
// *VersionMismatchError; a directory without a database is an error too.
// Adopting the cluster already configured for that directory is a no-op.
//
// pg_createcluster only configures an existing database when the data
// directory contains postgresql.conf, pg_hba.conf and pg_ident.conf, which a
// Debian cluster's data directory never does; Adopt puts the version's
// sample files there for pg_createcluster to move into /etc.
func Adopt(ctx context.Context, version, name string, o AdoptOptions) (*Cluster, error) {
	if err := checkClusterName(version, name); err != nil {
		return nil, err
	}
	if o.DataDir == "" {
		return nil, errors.New("adopt: no data directory given")
	}
	fail := func(err error) (*Cluster, error) {
		return nil, fmt.Errorf("adopt %s as cluster %s/%s: %w", o.DataDir, version, name, err)
	}
	major, ok, err := HasDatabase(o.DataDir)
	if err != nil {
		return fail(err)
	}
	if !ok {
		return fail(errors.New("no database there (PG_VERSION missing)"))
	}
	if major != version {
		return nil, &VersionMismatchError{DataDir: o.DataDir, Found: major, Want: version}
	}
	if c, err := Lookup(version, name); err == nil {
		if filepath.Clean(c.DataDir) == filepath.Clean(o.DataDir) {
			return c, nil
		}
		return fail(fmt.Errorf("%w with data directory %s", ErrClusterExists, c.DataDir))
	} else if !errors.Is(err, ErrNoCluster) {
		return fail(err)
	}
	if err := ownDataDir(ctx, o.DataDir); err != nil {
		return fail(err)
	}
	// A volume taken from a machine that died keeps its postmaster.pid; the
	// server would refuse to start if that pid now belongs to a process.
	pidFile := filepath.Join(o.DataDir, "postmaster.pid")
	if _, err := os.Stat(pidFile); err == nil {
		running, err := IsRunning(ctx, &Cluster{Version: version, Name: name, DataDir: o.DataDir})
		if err != nil {
			return fail(err)
		}
		if running {
			return fail(errors.New("a server is running on it"))
		}
		if err := os.Remove(pidFile); err != nil {
			return fail(err)
		}
	}
	share := filepath.Join("/usr/share/postgresql", version)
	for _, f := range []string{"postgresql.conf", "pg_hba.conf", "pg_ident.conf"} {
		dst := filepath.Join(o.DataDir, f)
		if _, err := os.Stat(dst); err == nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join(share, f+".sample"))
		if err != nil {
			return fail(err)
		}
		if _, err := writeFileAtomic(dst, data, 0o600, true); err != nil {
			return fail(err)
		}
	}
	args := append([]string{version, name, "--datadir", o.DataDir}, portSocketArgs(o.Port, o.SocketDir)...)
	if _, err := run(ctx, cmdSpec{}, "pg_createcluster", args...); err != nil {
		return fail(err)
	}
	c, err := finishConfig(version, name)
	if err != nil {
		return fail(err)
	}
	return c, nil
}

// ownDataDir gives a foreign data directory to the postgres user with the
// mode the server insists on.
func ownDataDir(ctx context.Context, dataDir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	uid, gid, err := UserIDs()
	if err != nil {
		return err
	}
	fi, err := os.Stat(filepath.Join(dataDir, "PG_VERSION"))
	if err != nil {
		return err
	}
	d, err := safefs.OpenDir(dataDir)
	if err != nil {
		return err
	}
	defer d.Close()
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) == uid {
		return d.Chmod(0o700)
	}
	// -P (the default with -R): links are changed themselves, never traversed.
	if _, err := run(ctx, cmdSpec{}, "chown", "-R", "-P", "--no-dereference", fmt.Sprintf("%d:%d", uid, gid), "--", dataDir); err != nil {
		return err
	}
	return d.Chmod(0o700)
}

// Forget stops the cluster and removes its Debian configuration, leaving
// the data directory untouched (pg_dropcluster would delete it). Use it when
// the data went away with its storage, so that another volume can be
// adopted under the same cluster name.
func Forget(ctx context.Context, c *Cluster) error {
	if _, err := os.Stat(filepath.Join(c.DataDir, "PG_VERSION")); err == nil {
		if err := Stop(ctx, c, StopFast); err != nil {
			return fmt.Errorf("forget cluster %s: %w", c, err)
		}
	} else if pid, err := os.ReadFile(filepath.Join("/var/run/postgresql", c.Version+"-"+c.Name+".pid")); err == nil && len(pid) > 0 {
		return fmt.Errorf("forget cluster %s: a server may still run (pid file %s-%s.pid)", c, c.Version, c.Name)
	}
	if err := os.RemoveAll(c.ConfDir); err != nil {
		return fmt.Errorf("forget cluster %s: %w", c, err)
	}
	return nil
}
