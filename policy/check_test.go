package policy_test

import (
	"testing"

	"slokeeper/policy"
)

func TestDefault(t *testing.T) {
	p, problems := policy.Parse(policy.DefaultName, policy.DefaultYAML())
	if policy.HasErrors(problems) {
		t.Fatalf("default policy has errors: %v", problems)
	}
	if len(problems) != 1 {
		t.Errorf("default policy problems = %v, want exactly the system-log conflict warning", problems)
	}
	for _, pr := range problems {
		t.Log(pr)
	}
	if p.Location().String() != "Asia/Tokyo" {
		t.Errorf("location = %s", p.Location())
	}
}
