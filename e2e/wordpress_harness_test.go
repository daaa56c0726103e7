package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The WordPress tests run Debian's WordPress on a MariaDB server and PHP's
// built-in web server that the test starts in a temporary folder, and install
// the plugin the way a site owner does: the zip from build.sh, uploaded in
// wp-admin. Nothing here is skipped: a missing part fails with what to install.

const debianWordPress = "/usr/share/wordpress"

// wpTools are the programs the WordPress tests need.
type wpTools struct {
	php, mariadbd, installDB, client string
}

func firstInPath(names ...string) string {
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
		for _, dir := range []string{"/usr/sbin", "/usr/bin"} {
			if p := filepath.Join(dir, n); fileExists(p) {
				return p
			}
		}
	}
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func needWordPressTools(t *testing.T) wpTools {
	t.Helper()
	tools := wpTools{
		php:       firstInPath("php"),
		mariadbd:  firstInPath("mariadbd", "mysqld"),
		installDB: firstInPath("mariadb-install-db", "mysql_install_db"),
		client:    firstInPath("mariadb", "mysql"),
	}
	var missing []string
	if tools.php == "" {
		missing = append(missing, "php (php-cli)")
	} else if err := exec.Command(tools.php, "-r", `exit(extension_loaded("mysqli") ? 0 : 1);`).Run(); err != nil {
		missing = append(missing, "PHP's mysqli extension (php-mysql)")
	}
	if tools.mariadbd == "" || tools.installDB == "" || tools.client == "" {
		missing = append(missing, "mariadbd, mariadb-install-db and mariadb (mariadb-server)")
	}
	if !fileExists(filepath.Join(debianWordPress, "wp-settings.php")) {
		missing = append(missing, "WordPress in "+debianWordPress+" (wordpress)")
	}
	if firstInPath("zip") == "" {
		missing = append(missing, "zip (zip)")
	}
	if len(missing) > 0 {
		t.Fatalf("the WordPress tests need %s: run scripts/deps.sh as root, or apt-get install -y wordpress php-cli php-mysql mariadb-server zip",
			strings.Join(missing, ", "))
	}
	return tools
}

// shortTempDir is a temporary folder with a short path: a Unix socket's path
// must stay under about 100 bytes.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "lrwp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// startMariaDB initialises a data folder and runs mariadbd on a socket only
// (no TCP port), as root on CI too. It returns the socket's path.
func startMariaDB(t *testing.T, tools wpTools, dir string) string {
	t.Helper()
	data, sock := filepath.Join(dir, "db"), filepath.Join(dir, "mysqld.sock")
	user := []string{}
	if os.Geteuid() == 0 {
		user = []string{"--user=root"}
	}
	install := exec.Command(tools.installDB, append([]string{"--no-defaults", "--datadir=" + data,
		"--auth-root-authentication-method=normal", "--skip-test-db"}, user...)...)
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
	logs := &syncBuffer{}
	cmd := exec.Command(tools.mariadbd, append([]string{"--no-defaults", "--datadir=" + data, "--socket=" + sock,
		"--skip-networking", "--pid-file=" + filepath.Join(dir, "mysqld.pid"), "--innodb-buffer-pool-size=32M",
		"--skip-log-bin"}, user...)...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start mariadbd: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("mariadbd log:\n%s", tail(logs.String(), 3000))
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			break
		}
		select {
		case err := <-done:
			t.Fatalf("mariadbd exited: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("mariadbd did not open %s within 60s\n%s", sock, logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if out, err := exec.Command(tools.client, "--no-defaults", "-S", sock, "-u", "root",
		"-e", "CREATE DATABASE wordpress CHARACTER SET utf8mb4").CombinedOutput(); err != nil {
		t.Fatalf("create database: %v\n%s", err, out)
	}
	return sock
}

// wordpress is a WordPress site served by `php -S` on loopback.
type wordpress struct {
	URL      string
	root     string
	debugLog string
	php      string
}

// startWordPress copies Debian's WordPress into dir, configures it for the
// database on sock and port, serves it and runs the installer.
func startWordPress(t *testing.T, tools wpTools, dir, sock string, port int) *wordpress {
	t.Helper()
	root := filepath.Join(dir, "site")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	// Debian's wp-config.php reads /etc/wordpress; this site gets its own.
	cp := exec.Command("sh", "-c", `tar -C "$1" --exclude=./wp-config.php --exclude=./.htaccess --exclude=./wp-content/languages -cf - . | tar -C "$2" -xf -`,
		"copy", debianWordPress, root)
	if out, err := cp.CombinedOutput(); err != nil {
		t.Fatalf("copy WordPress: %v\n%s", err, out)
	}
	wp := &wordpress{URL: fmt.Sprintf("http://127.0.0.1:%d", port), root: root,
		debugLog: filepath.Join(dir, "debug.log"), php: tools.php}
	var salts strings.Builder
	for _, k := range []string{"AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY", "AUTH_SALT", "SECURE_AUTH_SALT", "LOGGED_IN_SALT", "NONCE_SALT"} {
		fmt.Fprintf(&salts, "define('%s', '%s');\n", k, newSecret())
	}
	config := `<?php
define('DB_NAME', 'wordpress');
define('DB_USER', 'root');
define('DB_PASSWORD', '');
define('DB_HOST', 'localhost:` + sock + `');
define('DB_CHARSET', 'utf8mb4');
define('DB_COLLATE', '');
` + salts.String() + `$table_prefix = 'wp_';
define('WP_HOME', '` + wp.URL + `');
define('WP_SITEURL', '` + wp.URL + `');
// No traffic beyond this machine: WordPress's update checks and news feeds stay off.
define('WP_HTTP_BLOCK_EXTERNAL', true);
define('AUTOMATIC_UPDATER_DISABLED', true);
define('DISABLE_WP_CRON', true);
define('FS_METHOD', 'direct');
define('WP_DEBUG', true);
define('WP_DEBUG_LOG', '` + wp.debugLog + `');
define('WP_DEBUG_DISPLAY', false);
if (!defined('ABSPATH')) { define('ABSPATH', __DIR__ . '/'); }
require_once ABSPATH . 'wp-settings.php';
`
	if err := os.WriteFile(filepath.Join(root, "wp-config.php"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	cmd := exec.Command(tools.php, "-S", fmt.Sprintf("127.0.0.1:%d", port), "-t", root)
	// Several workers: a page that waits on Liveroom must not hold up the rest.
	cmd.Env = append(os.Environ(), "PHP_CLI_SERVER_WORKERS=4")
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start php -S: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		// The workers are the server's children: end the whole group it leads.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("php -S log (tail):\n%s", tail(logs.String(), 3000))
			if b, err := os.ReadFile(wp.debugLog); err == nil {
				t.Logf("WordPress debug log (tail):\n%s", tail(string(b), 3000))
			}
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			break
		}
		select {
		case err := <-done:
			t.Fatalf("php -S exited: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("php -S did not listen within 30s\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The installer's second step, as its form posts it.
	form := url.Values{"weblog_title": {"Kettle Shop"}, "user_name": {"admin"}, "admin_password": {wpAdminPassword},
		"admin_password2": {wpAdminPassword}, "pw_weak": {"1"}, "admin_email": {"admin@example.com"}, "blog_public": {"0"}}
	client := &http.Client{Timeout: 120 * time.Second}
	resp, err := client.PostForm(wp.URL+"/wp-admin/install.php?step=2", form)
	if err != nil {
		t.Fatalf("WordPress install: %v", err)
	}
	var body bytes.Buffer
	_, _ = body.ReadFrom(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(body.String(), "Success!") {
		t.Fatalf("WordPress install answered %d:\n%s", resp.StatusCode, tail(body.String(), 2000))
	}
	return wp
}

const wpAdminPassword = "kettle-Admin-pw-42"

func newSecret() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// eval runs PHP inside the site (wp-load.php loaded) and returns its output.
func (wp *wordpress) eval(t *testing.T, code string) string {
	t.Helper()
	script := filepath.Join(wp.root, "..", "eval.php")
	src := "<?php\n$_SERVER['HTTP_HOST'] = '" + strings.TrimPrefix(wp.URL, "http://") + "';\nrequire '" + wp.root + "/wp-load.php';\n" + code + "\n"
	if err := os.WriteFile(script, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, wp.php, script).CombinedOutput()
	if err != nil {
		t.Fatalf("php %s: %v\n%s", code, err, out)
	}
	return strings.TrimSpace(string(out))
}

// pluginProblems returns the debug log's lines about the plugin's own files.
func (wp *wordpress) pluginProblems() []string {
	b, _ := os.ReadFile(wp.debugLog)
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, "plugins/liveroom/") {
			out = append(out, l)
		}
	}
	return out
}

// buildPluginZip runs the build script into dir and returns the zip's path.
func buildPluginZip(t *testing.T, dir string) string {
	t.Helper()
	zip := filepath.Join(dir, "liveroom.zip")
	out, err := exec.Command("bash", "../integrations/wordpress/build.sh", zip).CombinedOutput()
	if err != nil || !fileExists(zip) {
		t.Fatalf("build.sh: %v\n%s", err, out)
	}
	return zip
}
