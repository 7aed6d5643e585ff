package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRetentionPolicies(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		wantErr string
		want    int
	}{
		{"two policies", `
retention:
  check_interval: 10s
  policies:
    - name: nightly
      schedule: 24h
      policy: {keep: 2, olderThan: 0d}
    - name: untagged
      enabled: false
      policy: {untaggedOlderThan: 7d, repositories: {include: ["team-a/.*"]}}
`, "", 2},
		{"bad rule", `
retention:
  policies:
    - name: x
      policy: {keep: -1}
`, "keep: must not be negative", 0},
		{"duplicate", `
retention:
  policies:
    - {name: x, policy: {keep: 1}}
    - {name: x, policy: {keep: 2}}
`, "declared twice", 0},
		{"no name", `
retention:
  policies:
    - {policy: {keep: 1}}
`, "name is required", 0},
		{"bad duration", `
retention:
  policies:
    - {name: x, policy: {olderThan: 3weeks}}
`, "retention.policies", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "berth.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := Load(path)
			if err == nil {
				err = c.Validate()
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			list, err := c.Retention.Policies.List()
			if err != nil || len(list) != tt.want {
				t.Fatalf("List = %+v, %v; want %d policies", list, err, tt.want)
			}
			if list[0].Name != "nightly" || list[0].Schedule != "24h" || !list[0].IsEnabled() || list[0].Policy.Keep != 2 || list[0].Policy.OlderThan == nil {
				t.Errorf("first = %+v", list[0])
			}
			if list[1].IsEnabled() || list[1].Policy.UntaggedOlderThan == nil || list[1].Policy.Repositories.Include[0] != "team-a/.*" {
				t.Errorf("second = %+v", list[1])
			}
			if c.Retention.CheckInterval.String() != "10s" {
				t.Errorf("check_interval = %s", c.Retention.CheckInterval)
			}
		})
	}
}
