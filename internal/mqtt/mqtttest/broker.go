// Package mqtttest starts a private Mosquitto broker for tests.
package mqtttest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Broker starts Mosquitto on a free loopback port with its own
// configuration, and returns its mqtt:// URL. It is stopped when the test
// ends. Without a mosquitto binary the test is skipped, except under
// CI=true, where it fails: CI must run the MQTT tests.
func Broker(tb testing.TB) string {
	tb.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		for _, p := range []string{"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
			if _, serr := os.Stat(p); serr == nil {
				bin, err = p, nil
			}
		}
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatal("mosquitto is required under CI=true (scripts/ensure-services installs it)")
		}
		tb.Skip("mosquitto not installed")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	dir := tb.TempDir()
	conf := filepath.Join(dir, "mosquitto.conf")
	os.WriteFile(conf, fmt.Appendf(nil, "listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n", port), 0o600)
	cmd := exec.Command(bin, "-c", conf)
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return "mqtt://" + addr
		}
		if time.Now().After(deadline) {
			tb.Fatalf("mosquitto did not start on %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond) // waiting for a process to start listening
	}
}
