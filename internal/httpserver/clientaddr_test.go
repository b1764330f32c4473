package httpserver

import (
	"net/http/httptest"
	"testing"
)

func TestClientAddr(t *testing.T) {
	trusted, err := ParseTrustedProxies("10.0.0.0/8, 192.0.2.1, ::1")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"NoProxy", "198.51.100.7:5000", nil, "198.51.100.7"},
		{"UntrustedPeerSpoofs", "198.51.100.7:5000", []string{"203.0.113.9"}, "198.51.100.7"},
		{"TrustedProxy", "192.0.2.1:443", []string{"203.0.113.9"}, "203.0.113.9"},
		{"ClientSpoofsLeftOfProxy", "192.0.2.1:443", []string{"1.2.3.4, 203.0.113.9"}, "203.0.113.9"},
		{"TwoTrustedHops", "10.1.2.3:443", []string{"203.0.113.9, 192.0.2.1"}, "203.0.113.9"},
		{"SeveralHeaders", "10.1.2.3:443", []string{"1.2.3.4", "203.0.113.9, 10.9.9.9"}, "203.0.113.9"},
		{"AllTrusted", "10.1.2.3:443", []string{"10.0.0.5"}, "10.0.0.5"},
		{"Garbage", "192.0.2.1:443", []string{"203.0.113.9, not-an-ip"}, "192.0.2.1"},
		{"NoHeader", "192.0.2.1:443", nil, "192.0.2.1"},
		{"IPv6", "[::1]:443", []string{"2001:db8::1"}, "2001:db8::1"},
		{"MappedIPv4", "[::ffff:192.0.2.1]:443", []string{"203.0.113.9"}, "203.0.113.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.peer
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := clientAddr(r, trusted); got != tt.want {
				t.Errorf("clientAddr(%s, %q) = %s, want %s", tt.peer, tt.xff, got, tt.want)
			}
		})
	}
	for _, bad := range []string{"10.0.0.0/33", "proxy.example.jp", "10.0.0.0/8,,x"} {
		if _, err := ParseTrustedProxies(bad); err == nil {
			t.Errorf("ParseTrustedProxies(%q) accepted", bad)
		}
	}
}
