package httpapi

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Security headers on every HTTP response. The API serves JSON only, so
// the content security policy forbids everything a browser could load.
var securityHeaders = map[string]string{
	"Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
	"X-Frame-Options":         "DENY",
	"X-Content-Type-Options":  "nosniff",
	"Referrer-Policy":         "no-referrer",
}

// corsMaxAge is how long browsers may cache a preflight answer.
const corsMaxAge = 10 * time.Minute

// withSecurity sets the security headers, HSTS for requests that arrived
// over TLS (directly or, per X-Forwarded-Proto, through a proxy), and CORS
// for allowed cross-origin callers. It answers CORS preflights itself.
// Under credentialsPath (the Socket.IO endpoint; "" for none) allowed
// origins may also send credentials, as socket.io-client's
// withCredentials option needs for long-polling.
func withSecurity(origins *OriginPolicy, hstsMaxAge time.Duration, credentialsPath string, next http.Handler) http.Handler {
	hsts := ""
	if hstsMaxAge > 0 {
		hsts = "max-age=" + strconv.FormatInt(int64(hstsMaxAge.Seconds()), 10) + "; includeSubDomains"
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for k, v := range securityHeaders {
			h.Set(k, v)
		}
		if hsts != "" && (r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")) {
			h.Set("Strict-Transport-Security", hsts)
		}
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		h.Add("Vary", "Origin")
		allowed := origins.Allowed(r)
		if allowed {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Expose-Headers", "X-Request-ID, Retry-After")
			if credentialsPath != "" && strings.HasPrefix(r.URL.Path, credentialsPath) {
				h.Set("Access-Control-Allow-Credentials", "true")
			}
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			if !allowed {
				writeError(w, r, newError(http.StatusForbidden, CodeOriginNotAllowed, "origin "+origin+" is not in CORS_ORIGINS"))
				return
			}
			h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-ID")
			h.Set("Access-Control-Max-Age", strconv.Itoa(int(corsMaxAge.Seconds())))
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}
