package auth_test

import (
	"strings"
	"testing"
	"time"

	"slokeeper/internal/auth"
)

func TestPassword(t *testing.T) {
	h, err := auth.HashPassword("correct horse バッテリー", auth.OWASP)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q does not carry the OWASP parameters", h)
	}
	if ok, rehash, err := auth.CheckPassword("correct horse バッテリー", h, auth.OWASP); !ok || rehash || err != nil {
		t.Errorf("right password: ok=%v rehash=%v err=%v", ok, rehash, err)
	}
	if ok, _, _ := auth.CheckPassword("correct horse battery", h, auth.OWASP); ok {
		t.Error("a wrong password was accepted")
	}
	h2, _ := auth.HashPassword("correct horse バッテリー", auth.OWASP)
	if h2 == h {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
	weak, _ := auth.HashPassword("pw", auth.Params{Memory: 1024, Time: 1, Threads: 1, KeyLen: 32})
	if ok, rehash, _ := auth.CheckPassword("pw", weak, auth.OWASP); !ok || !rehash {
		t.Errorf("a weaker hash: ok=%v rehash=%v, want a rehash", ok, rehash)
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$AA$AA", "$argon2id$v=19$m=x$AA$AA", "$argon2id$v=19$m=99999999,t=1,p=1$AA$AA"} {
		if _, _, err := auth.CheckPassword("pw", bad, auth.OWASP); err == nil {
			t.Errorf("CheckPassword accepted the malformed hash %q", bad)
		}
	}
}

// TestTOTPVectors: RFC 6238, Appendix B (SHA-1, secret "12345678901234567890").
func TestTOTPVectors(t *testing.T) {
	secret := "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" // base32 of the RFC's ASCII key
	for unix, want8 := range map[int64]string{59: "94287082", 1111111109: "07081804", 1234567890: "89005924", 2000000000: "69279037"} {
		got, err := auth.TOTPCode(secret, time.Unix(unix, 0))
		if err != nil || got != want8[2:] {
			t.Errorf("TOTP at %d = %s, want %s (the RFC's 8 digits, last 6)", unix, got, want8[2:])
		}
	}
	now := time.Unix(1764723600, 0)
	code, _ := auth.TOTPCode(secret, now.Add(-30*time.Second))
	if _, ok := auth.CheckTOTP(secret, code, now); !ok {
		t.Error("a code from the previous period was refused")
	}
	code, _ = auth.TOTPCode(secret, now.Add(-90*time.Second))
	if _, ok := auth.CheckTOTP(secret, code, now); ok {
		t.Error("a code three periods old was accepted")
	}
	if u := auth.TOTPURL(auth.NewTOTPSecret(), "slokeeper", "alice"); !strings.HasPrefix(u, "otpauth://totp/slokeeper:alice?") {
		t.Errorf("TOTP URL %s", u)
	}
}

func BenchmarkHashPassword(b *testing.B) {
	for b.Loop() {
		auth.HashPassword("password", auth.OWASP)
	}
}
