package main

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func loadTestConfig(t *testing.T, args []string, env map[string]string) (Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cf := newConfigFlags(fs, "data", "db", "listen", "policy", "insecure-http", "self-check-interval", "lifecycle-interval", "smtp")
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return cf.load(func(k string) string { return env[k] })
}

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "slokeeper.yaml")
	os.WriteFile(file, []byte("listen: 127.0.0.1:1001\ndata: state\npolicy: /etc/slo.yaml\nlog_level: debug\nself_check_interval: 1m\n"), 0o644)

	t.Run("Defaults", func(t *testing.T) {
		cfg, err := loadTestConfig(t, nil, nil)
		if err != nil || cfg.Listen != "127.0.0.1:8080" || cfg.Data != "slokeeper-data" || cfg.DB != "" || cfg.Policy != "" ||
			time.Duration(cfg.SelfCheckInterval) != 5*time.Minute || time.Duration(cfg.ShutdownTimeout) != 30*time.Second {
			t.Errorf("defaults = %+v, %v", cfg, err)
		}
	})
	t.Run("File", func(t *testing.T) {
		cfg, err := loadTestConfig(t, []string{"--config", file}, nil)
		if err != nil {
			t.Fatal(err)
		}
		// Relative paths in the file are relative to the file.
		if cfg.Listen != "127.0.0.1:1001" || cfg.Data != filepath.Join(dir, "state") || cfg.Policy != "/etc/slo.yaml" ||
			cfg.LogLevel != "debug" || time.Duration(cfg.SelfCheckInterval) != time.Minute || cfg.LogFormat != "text" {
			t.Errorf("from file = %+v", cfg)
		}
	})
	t.Run("EnvOverFile", func(t *testing.T) {
		cfg, err := loadTestConfig(t, nil, map[string]string{
			"SLOKEEPER_CONFIG": file, "SLOKEEPER_LISTEN": "127.0.0.1:1002", "SLOKEEPER_INSECURE_HTTP": "true", "SLOKEEPER_LOG_FORMAT": "json",
		})
		if err != nil || cfg.Listen != "127.0.0.1:1002" || !cfg.InsecureHTTP || cfg.LogFormat != "json" || cfg.LogLevel != "debug" {
			t.Errorf("env over file = %+v, %v", cfg, err)
		}
	})
	t.Run("FlagOverEnv", func(t *testing.T) {
		cfg, err := loadTestConfig(t, []string{"--config", file, "--listen", "127.0.0.1:1003", "--self-check-interval", "10s"},
			map[string]string{"SLOKEEPER_LISTEN": "127.0.0.1:1002"})
		if err != nil || cfg.Listen != "127.0.0.1:1003" || time.Duration(cfg.SelfCheckInterval) != 10*time.Second || cfg.Data != filepath.Join(dir, "state") {
			t.Errorf("flag over env = %+v, %v", cfg, err)
		}
	})
	t.Run("LifecycleOffAndSMTP", func(t *testing.T) {
		cfg, err := loadTestConfig(t, []string{"--lifecycle-interval", "0", "--smtp", "smtp://status@mail.example.jp?from=status@example.jp"},
			map[string]string{"SLOKEEPER_SMTP_PASSWORD": "from-the-environment"})
		if err != nil || cfg.LifecycleInterval != 0 || cfg.SMTP == "" || cfg.SMTPPassword != "from-the-environment" {
			t.Errorf("lifecycle off, SMTP = %+v, %v", cfg, err)
		}
	})
	errs := []struct {
		name, file string
		env        map[string]string
		want       string
	}{
		{"ErrUnknownKey", "listen: x\nlisten_addr: y\n", nil, ":2:1: unknown key \"listen_addr\" in the top level"},
		{"ErrBadDuration", "shutdown_timeout: soon\n", nil, `:1:19: shutdown_timeout: "soon" is not a positive duration`},
		{"ErrBadLogLevel", "log_level: loud\n", nil, `log level "loud" is not debug, info, warn or error`},
		{"ErrZeroShutdown", "", map[string]string{"SLOKEEPER_SHUTDOWN_TIMEOUT": "0s"}, "shutdown_timeout and self_check_interval must be longer than 0"},
		{"ErrBadEnvBool", "", map[string]string{"SLOKEEPER_INSECURE_HTTP": "maybe"}, `SLOKEEPER_INSECURE_HTTP="maybe"`},
		{"ErrMissingFile", "-", nil, "read config"},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "cfg.yaml")
			if tt.file != "-" {
				os.WriteFile(path, []byte(tt.file+"\n"), 0o644)
			}
			_, err := loadTestConfig(t, []string{"--config", path}, tt.env)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}
