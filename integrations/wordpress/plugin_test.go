// Package wordpress holds the WordPress plugin (in liveroom/, PHP) and the
// checks on its source; the plugin runs on a real WordPress in the e2e tests.
package wordpress

import (
	"archive/zip"
	"io/fs"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func need(t *testing.T, cmd, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(cmd)
	if err != nil {
		t.Fatalf("%s not found: install %s (scripts/deps.sh does, as root)", cmd, pkg)
	}
	return p
}

func pluginFiles(t *testing.T, ext string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir("liveroom", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ext) {
			files = append(files, p)
		}
		return err
	})
	if err != nil || len(files) == 0 {
		t.Fatalf("no %s files in liveroom/: %v", ext, err)
	}
	return files
}

// Every PHP file parses (php -l).
func TestPluginPHPSyntax(t *testing.T) {
	php := need(t, "php", "php-cli")
	for _, f := range pluginFiles(t, ".php") {
		if out, err := exec.Command(php, "-l", f).CombinedOutput(); err != nil {
			t.Errorf("php -l %s: %v\n%s", f, err, out)
		}
	}
}

// PHP_CodeSniffer with phpcs.xml (WordPress-style rules from the standards
// Debian ships; the WordPress standard itself comes from Composer only).
func TestPluginCodingStandard(t *testing.T) {
	phpcs := need(t, "phpcs", "php-codesniffer")
	out, err := exec.Command(phpcs, "--standard=phpcs.xml", "-s", "--report=full").CombinedOutput()
	if err != nil {
		t.Fatalf("phpcs found problems:\n%s", out)
	}
}

// The block scripts parse as JavaScript (no build step: what is committed runs).
func TestPluginScriptsParse(t *testing.T) {
	node := need(t, "node", "nodejs")
	for _, f := range pluginFiles(t, ".js") {
		if out, err := exec.Command(node, "--check", f).CombinedOutput(); err != nil {
			t.Errorf("node --check %s: %v\n%s", f, err, out)
		}
	}
}

// build.sh makes the zip WordPress's "Upload Plugin" takes: one liveroom/
// folder with the main file, the uninstaller and both blocks, no dot files.
func TestBuildZip(t *testing.T) {
	need(t, "zip", "zip")
	out := filepath.Join(t.TempDir(), "liveroom.zip")
	if b, err := exec.Command("bash", "build.sh", out).CombinedOutput(); err != nil {
		t.Fatalf("build.sh: %v\n%s", err, b)
	}
	r, err := zip.OpenReader(out)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	have := map[string]bool{}
	for _, f := range r.File {
		if !strings.HasPrefix(f.Name, "liveroom/") || strings.Contains(f.Name, "/.") {
			t.Errorf("unexpected entry %s", f.Name)
		}
		have[f.Name] = true
	}
	for _, want := range []string{"liveroom/liveroom.php", "liveroom/uninstall.php", "liveroom/readme.txt",
		"liveroom/blocks/button/block.json", "liveroom/blocks/room/block.json", "liveroom/assets/fallback.js"} {
		if !have[want] {
			t.Errorf("%s missing from the zip", want)
		}
	}
}
