package main

import (
	"strings"

	"rsc.io/qr"
)

// qrMargin is the quiet zone around a terminal QR code, in modules: the
// standard asks for 4; 2 is what qrencode's UTF8 output uses and what
// phone cameras read off a terminal.
const qrMargin = 2

// qrTerminal draws text as a QR code in half-block characters, two rows
// of modules a line. Like qrencode -t UTF8 it draws the light modules
// (and the quiet zone) as blocks, so that the code reads right on the
// usual dark terminal background.
func qrTerminal(text string) (string, error) {
	c, err := qr.Encode(text, qr.M)
	if err != nil {
		return "", err
	}
	size := c.Size + 2*qrMargin
	light := func(x, y int) bool {
		if y >= size {
			return false // below the quiet zone: the terminal's own background
		}
		x, y = x-qrMargin, y-qrMargin
		return x < 0 || y < 0 || x >= c.Size || y >= c.Size || !c.Black(x, y)
	}
	var b strings.Builder
	for y := 0; y < size; y += 2 {
		for x := 0; x < size; x++ {
			switch top, bottom := light(x, y), light(x, y+1); {
			case top && bottom:
				b.WriteString("█")
			case top:
				b.WriteString("▀")
			case bottom:
				b.WriteString("▄")
			default:
				b.WriteString(" ")
			}
		}
		b.WriteString("\n")
	}
	return b.String(), nil
}
