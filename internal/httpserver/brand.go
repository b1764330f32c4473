package httpserver

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"slokeeper"
)

// Brand is how the operator's status page looks as theirs: a name (in
// place of the policy's service name), a logo and an accent colour. Every
// field is optional.
type Brand struct {
	NameJA, NameEN string
	// Logo is an https:// URL, or the path of an image file (PNG, JPEG,
	// SVG, WebP, at most 512 KiB) that slokeeper serves at /logo.
	Logo string
	// Color is the accent colour of the header and links: a CSS hex
	// colour, #rgb or #rrggbb.
	Color string
}

var hexColor = regexp.MustCompile(`^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// logoTypes are the image files a logo may be, by extension.
var logoTypes = map[string]string{".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml", ".webp": "image/webp"}

// maxLogo is the largest logo file served.
const maxLogo = 512 << 10

// Validate says what is wrong with b, naming the configuration key.
func (b Brand) Validate() error {
	if b.Color != "" && !hexColor.MatchString(b.Color) {
		return slokeeper.Errorf(slokeeper.EINVALID, "status_color %q is not a CSS hex colour such as #0b57d0 or #06c.", b.Color)
	}
	if len(b.NameJA) > 200 || len(b.NameEN) > 200 {
		return slokeeper.Errorf(slokeeper.EINVALID, "status_name_ja and status_name_en are at most 200 bytes.")
	}
	if b.Logo == "" {
		return nil
	}
	if strings.Contains(b.Logo, "://") {
		u, err := url.Parse(b.Logo)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil {
			return slokeeper.Errorf(slokeeper.EINVALID, "status_logo %q is neither an https:// URL nor an image file.", b.Logo)
		}
		return nil
	}
	if _, ok := logoTypes[strings.ToLower(filepath.Ext(b.Logo))]; !ok {
		return slokeeper.Errorf(slokeeper.EINVALID, "status_logo %q: a logo file is .png, .jpg, .svg or .webp.", b.Logo)
	}
	fi, err := os.Stat(b.Logo)
	switch {
	case err != nil:
		return slokeeper.Errorf(slokeeper.EINVALID, "status_logo %q cannot be read: %v", b.Logo, err)
	case !fi.Mode().IsRegular() || fi.Size() > maxLogo:
		return slokeeper.Errorf(slokeeper.EINVALID, "status_logo %q is not a file of at most 512 KiB.", b.Logo)
	}
	return nil
}

// logoURL is the logo's address for an <img>: the URL, or /logo.
func (b Brand) logoURL() string {
	switch {
	case b.Logo == "":
		return ""
	case strings.Contains(b.Logo, "://"):
		return b.Logo
	}
	return "/logo"
}

// logoOrigin is the origin a logo URL is fetched from, for img-src.
func (b Brand) logoOrigin() string {
	if !strings.Contains(b.Logo, "://") {
		return ""
	}
	u, err := url.Parse(b.Logo)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// css is the brand's stylesheet, served at /brand.css.
func (b Brand) css() string {
	if b.Color == "" {
		return ""
	}
	return fmt.Sprintf("header{border-top:.4rem solid %[1]s}a{color:%[1]s}h1{color:%[1]s}\n", b.Color)
}

// pageName is the name the status pages show in lang.
func (s *Server) pageName(l string) string {
	if l == "en" && s.Brand.NameEN != "" {
		return s.Brand.NameEN
	}
	if l != "en" && s.Brand.NameJA != "" {
		return s.Brand.NameJA
	}
	return s.Policy.Service.Name.In(l)
}

func (s *Server) handleBrandCSS(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	fmt.Fprint(w, s.Brand.css())
}

func (s *Server) handleLogo(w http.ResponseWriter, r *http.Request) {
	if s.logo == nil {
		Error(w, r, s.Logger, slokeeper.Errorf(slokeeper.ENOTFOUND, "This status page has no logo file."))
		return
	}
	w.Header().Set("Content-Type", logoTypes[strings.ToLower(filepath.Ext(s.Brand.Logo))])
	if strings.HasSuffix(strings.ToLower(s.Brand.Logo), ".svg") {
		// An SVG runs no script as an <img>; opened on its own, the CSP
		// of every response (no script) holds it too.
		w.Header().Set("Content-Disposition", "inline")
	}
	w.Write(s.logo)
}

// loadBrand checks the brand and reads a logo file into memory.
func (s *Server) loadBrand() error {
	if err := s.Brand.Validate(); err != nil {
		return err
	}
	if s.Brand.Logo != "" && s.Brand.logoURL() == "/logo" {
		b, err := os.ReadFile(s.Brand.Logo)
		if err != nil {
			return fmt.Errorf("status_logo: %w", err)
		}
		s.logo = b
	}
	if o := s.Brand.logoOrigin(); o != "" {
		s.csp = strings.Replace(s.csp, "img-src 'self'", "img-src 'self' "+o, 1)
	}
	return nil
}
