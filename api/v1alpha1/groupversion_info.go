// Package v1alpha1 holds the realtime.fleetwire.io/v1alpha1 API: the
// RealtimeService resource that the operator turns into a fleet of runtime
// pods.
// +kubebuilder:object:generate=true
// +groupName=realtime.fleetwire.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the API group and version of these types.
	GroupVersion = schema.GroupVersion{Group: "realtime.fleetwire.io", Version: "v1alpha1"}

	// SchemeBuilder registers the types with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types in this group-version to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
