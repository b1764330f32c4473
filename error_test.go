package slokeeper_test

import (
	"errors"
	"fmt"
	"testing"

	"slokeeper"
)

func TestErrorCodeAndMessage(t *testing.T) {
	domain := slokeeper.Errorf(slokeeper.ENOTFOUND, "Account %d not found.", 7)
	tests := []struct {
		name          string
		err           error
		code, message string
	}{
		{"Nil", nil, "", ""},
		{"Domain", domain, slokeeper.ENOTFOUND, "Account 7 not found."},
		{"Wrapped", fmt.Errorf("find account: %w", domain), slokeeper.ENOTFOUND, "Account 7 not found."},
		{"Internal", errors.New("disk on fire at /var/lib/x"), slokeeper.EINTERNAL, "Internal error."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := slokeeper.ErrorCode(tt.err); got != tt.code {
				t.Errorf("ErrorCode = %q, want %q", got, tt.code)
			}
			if got := slokeeper.ErrorMessage(tt.err); got != tt.message {
				t.Errorf("ErrorMessage = %q, want %q", got, tt.message)
			}
		})
	}
}
