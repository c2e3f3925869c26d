package httpapi

import (
	"net/http"
	"net/url"
	"strings"
)

// OriginPolicy decides which browser origins may open a WebSocket. It
// blocks cross-site WebSocket hijacking: a page on another site cannot use
// a victim's cookies or query token to connect.
type OriginPolicy struct {
	any      bool
	exact    map[string]bool
	suffixes []originSuffix
}

type originSuffix struct{ scheme, suffix string }

// NewOriginPolicy builds a policy from exact origins, "scheme://*.domain"
// patterns and "*". Same-origin requests always pass; with no origins,
// only they do, unless allowAllWhenEmpty (dev mode) is set.
func NewOriginPolicy(origins []string, allowAllWhenEmpty bool) *OriginPolicy {
	p := &OriginPolicy{exact: map[string]bool{}, any: len(origins) == 0 && allowAllWhenEmpty}
	for _, o := range origins {
		o = strings.ToLower(strings.TrimSuffix(o, "/"))
		if o == "*" {
			p.any = true
			continue
		}
		if scheme, host, ok := strings.Cut(o, "://*."); ok {
			p.suffixes = append(p.suffixes, originSuffix{scheme: scheme, suffix: "." + host})
			continue
		}
		p.exact[o] = true
	}
	return p
}

// Allowed reports whether r may upgrade. Requests without an Origin header
// come from non-browser clients, which cannot be hijacked this way.
func (p *OriginPolicy) Allowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || p.any {
		return true
	}
	u, err := url.Parse(strings.ToLower(origin))
	if err != nil || u.Host == "" {
		return false
	}
	if p.exact[u.Scheme+"://"+u.Host] {
		return true
	}
	for _, s := range p.suffixes {
		if u.Scheme == s.scheme && strings.HasSuffix(u.Host, s.suffix) && len(u.Host) > len(s.suffix) {
			return true
		}
	}
	// The page came from this server (the console): same origin is never
	// a cross-site request.
	return strings.EqualFold(u.Host, r.Host)
}
