package httpserver

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"
)

var styleBlock = regexp.MustCompile(`(?s)<style>(.*?)</style>`)

// contentSecurityPolicy is the policy every response carries: nothing
// loads but the pages' own style blocks, named by their SHA-256 (the
// pages have no script at all); forms post only to this site; no page
// may be framed (clickjacking) or change its base URL. The hashes come
// from the templates, whose style blocks hold no template action, so
// they are what the pages serve.
func contentSecurityPolicy(templates fs.FS) (string, error) {
	files, err := fs.Glob(templates, "templates/*.html")
	if err != nil {
		return "", err
	}
	var hashes []string
	for _, f := range files {
		b, err := fs.ReadFile(templates, f)
		if err != nil {
			return "", err
		}
		for _, m := range styleBlock.FindAllSubmatch(b, -1) {
			if strings.Contains(string(m[1]), "{{") {
				return "", fmt.Errorf("%s: a style block holds a template action, so its hash cannot be known in advance", f)
			}
			sum := sha256.Sum256(m[1])
			hashes = append(hashes, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'")
		}
	}
	slices.Sort(hashes)
	hashes = slices.Compact(hashes)
	// 'self': /brand.css, the operator's colours from the configuration.
	return "default-src 'none'; style-src 'self' " + strings.Join(hashes, " ") +
		"; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'", nil
}
