package v1alpha1

import (
	"sort"

	corev1 "k8s.io/api/core/v1"
)

// SecretRefs lists every Secret key the spec references, in a fixed order.
func SecretRefs(rts *RealtimeService) []corev1.SecretKeySelector {
	var refs []corev1.SecretKeySelector
	add := func(ref *corev1.SecretKeySelector) {
		if ref != nil {
			refs = append(refs, *ref)
		}
	}
	add(rts.Spec.Auth.JWTSecretRef)
	add(rts.Spec.Auth.PublicKeySecretRef)
	if r := rts.Spec.Redis; r != nil {
		add(r.URLSecretRef)
		add(r.PasswordSecretRef)
	}
	return refs
}

// SecretNames lists the distinct Secrets the spec references, sorted.
func SecretNames(rts *RealtimeService) []string {
	seen := map[string]bool{}
	var names []string
	for _, ref := range SecretRefs(rts) {
		if !seen[ref.Name] {
			seen[ref.Name] = true
			names = append(names, ref.Name)
		}
	}
	sort.Strings(names)
	return names
}
