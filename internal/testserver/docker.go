package testserver

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Docker is a throwaway Docker engine: its own data root, exec root and
// unix socket in a temporary directory, no default bridge and no iptables
// rules, so that it neither meets the host's engine (if any) nor another
// test's. Containers get networks from Network.
type Docker struct {
	// Host is the DOCKER_HOST value that reaches this engine (unix://…).
	Host string
	// Dir holds the data root, the exec root, the socket and the log.
	Dir string
	// LogFile receives dockerd's log.
	LogFile string
	// PID is dockerd's process id.
	PID int
	cli string
}

// StartDocker starts dockerd as a child of the test and stops it (by its
// pid, after removing the test's containers and networks) in t.Cleanup.
// It needs root. Missing docker or dockerd skips the test, or fails it
// under CI=true (RequireBinary).
func StartDocker(t testing.TB) *Docker {
	t.Helper()
	dockerd := RequireBinary(t, "dockerd", "/usr/sbin/dockerd", "/usr/bin/dockerd")
	cli := RequireBinary(t, "docker", "/usr/bin/docker")
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("dockerd: the Docker tests need root (CI runs as root)")
		}
		t.Skip("dockerd: the Docker tests need root")
	}
	// Not t.TempDir: dockerd's overlay mounts and root-owned state are
	// taken down by dockerd itself on stop, and only then removed.
	dir, err := os.MkdirTemp("", "aw-docker-")
	if err != nil {
		t.Fatal(err)
	}
	d := &Docker{Dir: dir, LogFile: filepath.Join(dir, "dockerd.log"), cli: cli}
	sock := filepath.Join(dir, "docker.sock")
	d.Host = "unix://" + sock
	logf, err := os.Create(d.LogFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(dockerd,
		"--data-root", filepath.Join(dir, "data"),
		"--exec-root", filepath.Join(dir, "exec"),
		"--pidfile", filepath.Join(dir, "dockerd.pid"),
		"-H", d.Host,
		"--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: a signal meant for the test does not reach it
	// before Cleanup has removed the containers.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("dockerd: %v", err)
	}
	d.PID = cmd.Process.Pid
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logf.Close() }()
	t.Cleanup(func() { d.stop(t, cmd.Process, exited) })

	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-exited:
			log, _ := os.ReadFile(d.LogFile)
			t.Fatalf("dockerd exited while starting: %v\n%s", err, tail(log, 4000))
		default:
		}
		if _, err := d.run(context.Background(), nil, "version", "--format", "{{.Server.Version}}"); err == nil {
			return d
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(d.LogFile)
			t.Fatalf("dockerd did not answer on %s within 60s\n%s", d.Host, tail(log, 4000))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stop removes every container and network of this engine (so that no
// bridge device is left on the machine), then ends dockerd with SIGTERM,
// SIGKILL after 20 s, and removes its directory.
func (d *Docker) stop(t testing.TB, p *os.Process, exited <-chan error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if ids, err := d.run(ctx, nil, "ps", "-aq"); err == nil && strings.TrimSpace(ids) != "" {
		if _, err := d.run(ctx, nil, append([]string{"rm", "-f"}, strings.Fields(ids)...)...); err != nil {
			t.Logf("dockerd cleanup: %v", err)
		}
	}
	if ids, err := d.run(ctx, nil, "network", "ls", "-q", "--filter", "type=custom"); err == nil && strings.TrimSpace(ids) != "" {
		if _, err := d.run(ctx, nil, append([]string{"network", "rm"}, strings.Fields(ids)...)...); err != nil {
			t.Logf("dockerd cleanup: %v", err)
		}
	}
	_ = p.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		_ = p.Kill()
		<-exited
	}
	if err := os.RemoveAll(d.Dir); err != nil {
		t.Logf("dockerd cleanup: %v", err)
	}
}

// Env is the environment a docker client needs to reach this engine.
func (d *Docker) Env() []string { return []string{"DOCKER_HOST=" + d.Host} }

// Run runs the docker client against this engine and returns its standard
// output; a failure ends the test with what docker printed.
func (d *Docker) Run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := d.run(context.Background(), nil, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (d *Docker) run(ctx context.Context, stdin io.Reader, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, d.cli, args...)
	cmd.Env = append(os.Environ(), d.Env()...)
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// busyboxApplets are the links a busybox image gets: what tests run in
// their containers.
var busyboxApplets = []string{"sh", "sleep", "cat", "ls", "cp", "rm", "mkdir", "ps", "nc", "ip", "ifconfig", "sync", "true", "kill"}

// ImportBusybox builds an image named name from /bin/busybox (busybox-static)
// and its links, plus extra files (path in the image -> file on this
// machine, copied mode 0755), by `docker import` of a tarball: no registry
// is involved. It returns name.
func (d *Docker) ImportBusybox(t testing.TB, name string, extra map[string]string) string {
	t.Helper()
	bb := RequireBinary(t, "busybox", "/bin/busybox")
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	addDir := func(dir string) {
		for dir != "." && dir != "/" && !dirs[dir] {
			dirs[dir] = true
			addDirEntry(t, tw, dir)
			dir = filepath.Dir(dir)
		}
	}
	addFile := func(path, src string) {
		addDir(filepath.Dir(path))
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatalf("image %s: %v", name, err)
		}
		if err := tw.WriteHeader(&tar.Header{Name: path, Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	// Directories are written before what they hold, in sorted order, so
	// that the archive is the same for the same input.
	for _, dir := range []string{"bin", "tmp", "etc", "proc", "sys", "dev", "root"} {
		addDir(dir)
	}
	addFile("bin/busybox", bb)
	for _, a := range busyboxApplets {
		if err := tw.WriteHeader(&tar.Header{Name: "bin/" + a, Linkname: "busybox", Typeflag: tar.TypeSymlink, Mode: 0o777}); err != nil {
			t.Fatal(err)
		}
	}
	for path, src := range extra {
		addFile(strings.TrimPrefix(path, "/"), src)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.run(context.Background(), &buf, "import", "-", name); err != nil {
		t.Fatal(err)
	}
	return name
}

func addDirEntry(t testing.TB, tw *tar.Writer, dir string) {
	t.Helper()
	mode := int64(0o755)
	if dir == "tmp" {
		mode = 0o1777
	}
	if err := tw.WriteHeader(&tar.Header{Name: dir + "/", Mode: mode, Typeflag: tar.TypeDir}); err != nil {
		t.Fatal(err)
	}
}

// Network creates a bridge network of its own (a random /24 of 10.0.0.0/8
// and a random bridge name, so that engines of parallel tests do not meet)
// and returns its name and the /24's prefix, e.g. "10.93.17." — addresses
// .2 to .254 are free for containers (--ip).
func (d *Docker) Network(t testing.TB) (name, prefix string) {
	t.Helper()
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name = "aw" + hex.EncodeToString(b[:])
	prefix = fmt.Sprintf("10.%d.%d.", 64+int(b[0])%128, b[1])
	d.Run(t, "network", "create", "--driver", "bridge", "--subnet", prefix+"0/24",
		"--opt", "com.docker.network.bridge.name="+name, name)
	return name, prefix
}

// BuildCulprit builds the stand-in culprit (internal/testserver/culprit), a
// static binary that runs in a busybox container as well as on this
// machine, and returns its path in a temporary directory.
func BuildCulprit(t testing.TB) string {
	t.Helper()
	goBin := RequireBinary(t, "go")
	out := filepath.Join(t.TempDir(), "culprit")
	cmd := exec.Command(goBin, "build", "-o", out, "github.com/abusewatch/abusewatch/internal/testserver/culprit")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the culprit: %v\n%s", err, b)
	}
	return out
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
