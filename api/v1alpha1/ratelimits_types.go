package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// RateRule allows Limit actions per Window. A limit of 0 turns the rule off.
type RateRule struct {
	// Limit is the actions allowed per window; 0 turns the rule off.
	// +kubebuilder:validation:Minimum=0
	Limit int32 `json:"limit"`
	// Window is the period the limit applies to, such as "1m".
	// +kubebuilder:default="1m"
	// +optional
	Window metav1.Duration `json:"window,omitempty"`
}

// EventRateRule limits one client event, such as subscribe.
type EventRateRule struct {
	// Event is the client event name, such as subscribe or message.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	Event string `json:"event"`
	// Limit is the events allowed per window; 0 turns the rule off.
	// +kubebuilder:validation:Minimum=0
	Limit int32 `json:"limit"`
	// Window is the period the limit applies to.
	// +kubebuilder:default="1m"
	// +optional
	Window metav1.Duration `json:"window,omitempty"`
}

// RateTier raises or replaces limits for tokens whose tier claim matches
// Name. Unset fields keep the base rule.
type RateTier struct {
	// Name is the token's tier claim, such as premium.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	Name string `json:"name"`
	// Messages replaces the per-user message rule.
	// +optional
	Messages *RateRule `json:"messages,omitempty"`
	// Events replace per-event rules by event name.
	// +optional
	// +listType=map
	// +listMapKey=event
	// +kubebuilder:validation:MaxItems=50
	Events []EventRateRule `json:"events,omitempty"`
	// ConnectionsPerUser replaces the per-user connection cap.
	// +kubebuilder:validation:Minimum=0
	// +optional
	ConnectionsPerUser *int32 `json:"connectionsPerUser,omitempty"`
	// HTTPPerCaller replaces the HTTP API rule.
	// +optional
	HTTPPerCaller *RateRule `json:"httpPerCaller,omitempty"`
}

// AbuseSpec closes connections that keep hitting limits.
type AbuseSpec struct {
	// Blocked is how many blocked events within Window close the
	// connection with the policy-violation code; 0 never closes.
	// +kubebuilder:validation:Minimum=0
	Blocked int32 `json:"blocked"`
	// Window is the period blocked events are counted over.
	// +kubebuilder:default="1m"
	// +optional
	Window metav1.Duration `json:"window,omitempty"`
}

// RateLimitsSpec are the runtime's rate-limit rules. Unset fields keep the
// runtime's defaults (docs/configuration.md). With Redis they hold
// fleet-wide; without it, per pod.
type RateLimitsSpec struct {
	// Messages limits what each user sends (default 60 per minute).
	// +optional
	Messages *RateRule `json:"messages,omitempty"`
	// Events limit single client events (default subscribe 30 per minute).
	// +optional
	// +listType=map
	// +listMapKey=event
	// +kubebuilder:validation:MaxItems=50
	Events []EventRateRule `json:"events,omitempty"`
	// ConnectionsPerIP limits connection attempts from one address
	// (default 300 per minute).
	// +optional
	ConnectionsPerIP *RateRule `json:"connectionsPerIP,omitempty"`
	// ConnectionsPerUser caps one user's open connections (default 20).
	// +kubebuilder:validation:Minimum=0
	// +optional
	ConnectionsPerUser *int32 `json:"connectionsPerUser,omitempty"`
	// HTTPPerCaller limits HTTP API calls per token subject (off by default).
	// +optional
	HTTPPerCaller *RateRule `json:"httpPerCaller,omitempty"`
	// Abuse closes connections that keep hitting limits (default 20
	// blocked per minute).
	// +optional
	Abuse *AbuseSpec `json:"abuse,omitempty"`
	// Tiers raise or replace limits by the token's tier claim.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=20
	Tiers []RateTier `json:"tiers,omitempty"`
}
