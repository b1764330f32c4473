package main

import (
	"strings"
	"testing"

	"rsc.io/qr"
)

// TestQRTerminal reads the half-block drawing back into modules and
// compares them with the QR code's: every dark module is dark, every
// light one and the quiet zone light.
func TestQRTerminal(t *testing.T) {
	text := "otpauth://totp/slokeeper:hana?secret=JBSWY3DPEHPK3PXP&issuer=slokeeper"
	got, err := qrTerminal(text)
	if err != nil {
		t.Fatal(err)
	}
	c, err := qr.Encode(text, qr.M)
	if err != nil {
		t.Fatal(err)
	}
	size := c.Size + 2*qrMargin
	lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if len(lines) != (size+1)/2 {
		t.Fatalf("%d lines, want %d", len(lines), (size+1)/2)
	}
	for i, line := range lines {
		cells := []rune(line)
		if len(cells) != size {
			t.Fatalf("line %d has %d cells, want %d", i, len(cells), size)
		}
		for x, r := range cells {
			top, bottom := r == '█' || r == '▀', r == '█' || r == '▄'
			for dy, lit := range []bool{top, bottom} {
				y := 2*i + dy
				if y >= size {
					continue
				}
				mx, my := x-qrMargin, y-qrMargin
				want := mx < 0 || my < 0 || mx >= c.Size || my >= c.Size || !c.Black(mx, my)
				if lit != want {
					t.Fatalf("module (%d, %d): light %v, want %v", x, y, lit, want)
				}
			}
		}
	}
}
