// Package v1alpha1 holds the realtime.fleetwire.io/v1alpha1 API: the
// RealtimeService resource that the operator turns into a fleet of runtime
// pods.
// +kubebuilder:object:generate=true
// +groupName=realtime.fleetwire.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the API group and version of these types.
	GroupVersion = schema.GroupVersion{Group: "realtime.fleetwire.io", Version: "v1alpha1"}

	// SchemeBuilder registers the types with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the types in this group-version to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &RealtimeService{}, &RealtimeServiceList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
