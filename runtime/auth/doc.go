// Package auth owns client identity: verifying JWTs with a pinned set of
// algorithms, the claims the runtime understands, extracting tokens from
// requests, revoking tokens by jti through a Denylist, and signing dev
// tokens.
package auth
