package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// ChannelAccess says who may subscribe.
// +kubebuilder:validation:Enum=authenticated;roles;deny
type ChannelAccess string

// ChannelPublish says which clients may publish into a namespace's
// channels.
// +kubebuilder:validation:Enum=none;subscribers;roles
type ChannelPublish string

// ChannelRule says who may subscribe to a namespace's channels, and who
// may publish into them from a client.
// +kubebuilder:validation:XValidation:rule="self.allow != 'roles' || (has(self.roles) && size(self.roles) > 0)",message="a channel rule with allow: roles needs at least one role"
// +kubebuilder:validation:XValidation:rule="self.allow == 'roles' || !has(self.roles) || size(self.roles) == 0",message="roles are only used with allow: roles; set allow: roles or remove roles"
// +kubebuilder:validation:XValidation:rule="!has(self.publish) || self.publish != 'roles' || (has(self.publishRoles) && size(self.publishRoles) > 0)",message="publish: roles needs at least one role in publishRoles"
// +kubebuilder:validation:XValidation:rule="(has(self.publish) && self.publish == 'roles') || !has(self.publishRoles) || size(self.publishRoles) == 0",message="publishRoles are only used with publish: roles; set publish: roles or remove publishRoles"
// +kubebuilder:validation:XValidation:rule="!has(self.publishProxy) || !self.publishProxy || (has(self.publish) && self.publish != 'none')",message="publishProxy needs publish: subscribers or roles"
// +kubebuilder:validation:XValidation:rule="!has(self.joinLeave) || !self.joinLeave || (has(self.presence) && self.presence)",message="joinLeave needs presence: true"
type ChannelRule struct {
	// Allow is authenticated (every authenticated user), roles (at least
	// one of Roles) or deny.
	// +kubebuilder:default=authenticated
	// +optional
	Allow ChannelAccess `json:"allow,omitempty"`
	// Roles are the token roles that may subscribe when Allow is roles.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=20
	// +kubebuilder:validation:items:MaxLength=64
	Roles []string `json:"roles,omitempty"`
	// Publish is who may publish into these channels from a client with
	// the publish event: none, subscribers (a connection subscribed to the
	// channel) or roles (a connection with one of PublishRoles).
	// +kubebuilder:default=none
	// +optional
	Publish ChannelPublish `json:"publish,omitempty"`
	// PublishRoles are the token roles that may publish when Publish is
	// roles.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=20
	// +kubebuilder:validation:items:MaxLength=64
	PublishRoles []string `json:"publishRoles,omitempty"`
	// PublishProxy sends each client publish to spec.rpcProxy first, as
	// the event "publish"; it is published only if the backend accepts
	// it.
	// +optional
	PublishProxy bool `json:"publishProxy,omitempty"`
	// Presence records who is on these channels, for the presence and
	// presence-stats queries.
	// +optional
	Presence bool `json:"presence,omitempty"`
	// JoinLeave sends join and leave events to a channel's subscribers
	// when a user's first connection subscribes and their last one
	// leaves. It needs presence.
	// +optional
	JoinLeave bool `json:"joinLeave,omitempty"`
}

// ChannelNamespace applies a rule to channels named "<name>:...".
// +kubebuilder:validation:XValidation:rule="self.allow != 'roles' || (has(self.roles) && size(self.roles) > 0)",message="a channel namespace with allow: roles needs at least one role"
// +kubebuilder:validation:XValidation:rule="self.allow == 'roles' || !has(self.roles) || size(self.roles) == 0",message="roles are only used with allow: roles; set allow: roles or remove roles"
// +kubebuilder:validation:XValidation:rule="!has(self.publish) || self.publish != 'roles' || (has(self.publishRoles) && size(self.publishRoles) > 0)",message="publish: roles needs at least one role in publishRoles"
// +kubebuilder:validation:XValidation:rule="(has(self.publish) && self.publish == 'roles') || !has(self.publishRoles) || size(self.publishRoles) == 0",message="publishRoles are only used with publish: roles; set publish: roles or remove publishRoles"
// +kubebuilder:validation:XValidation:rule="!has(self.publishProxy) || !self.publishProxy || (has(self.publish) && self.publish != 'none')",message="publishProxy needs publish: subscribers or roles"
// +kubebuilder:validation:XValidation:rule="!has(self.joinLeave) || !self.joinLeave || (has(self.presence) && self.presence)",message="joinLeave needs presence: true"
type ChannelNamespace struct {
	// Name is the namespace, the part of a channel name before the first
	// colon. user, team and admin are built in and cannot be changed.
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]{1,64}$`
	// +kubebuilder:validation:XValidation:rule="!(self in ['user', 'team', 'admin'])",message="user, team and admin are built-in channel namespaces and cannot be configured"
	Name string `json:"name"`
	// Allow is authenticated, roles or deny.
	// +kubebuilder:default=authenticated
	// +optional
	Allow ChannelAccess `json:"allow,omitempty"`
	// Roles are the token roles that may subscribe when Allow is roles.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=20
	// +kubebuilder:validation:items:MaxLength=64
	Roles []string `json:"roles,omitempty"`
	// Publish is who may publish into these channels from a client with
	// the publish event: none, subscribers (a connection subscribed to the
	// channel) or roles (a connection with one of PublishRoles).
	// +kubebuilder:default=none
	// +optional
	Publish ChannelPublish `json:"publish,omitempty"`
	// PublishRoles are the token roles that may publish when Publish is
	// roles.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=20
	// +kubebuilder:validation:items:MaxLength=64
	PublishRoles []string `json:"publishRoles,omitempty"`
	// PublishProxy sends each client publish to spec.rpcProxy first, as
	// the event "publish"; it is published only if the backend accepts
	// it.
	// +optional
	PublishProxy bool `json:"publishProxy,omitempty"`
	// Presence records who is on these channels, for the presence and
	// presence-stats queries.
	// +optional
	Presence bool `json:"presence,omitempty"`
	// JoinLeave sends join and leave events to a channel's subscribers
	// when a user's first connection subscribes and their last one
	// leaves. It needs presence.
	// +optional
	JoinLeave bool `json:"joinLeave,omitempty"`
}

// ChannelHistory keeps recent messages of a namespace's channels so
// clients can recover what they missed.
type ChannelHistory struct {
	// Namespace is the channel namespace.
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_-]{1,64}$`
	Namespace string `json:"namespace"`
	// Size is the messages kept per channel; 0 keeps none.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10000
	Size int32 `json:"size"`
	// TTL is how long a channel's history is kept after its last message.
	// +kubebuilder:default="10m"
	// +optional
	TTL metav1.Duration `json:"ttl,omitempty"`
}

// ChannelsSpec are the channel namespace rules.
type ChannelsSpec struct {
	// Default applies to namespaces without a rule of their own.
	// +optional
	Default *ChannelRule `json:"default,omitempty"`
	// Namespaces are rules by namespace.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=100
	Namespaces []ChannelNamespace `json:"namespaces,omitempty"`
	// History keeps recent messages by namespace.
	// +optional
	// +listType=map
	// +listMapKey=namespace
	// +kubebuilder:validation:MaxItems=100
	History []ChannelHistory `json:"history,omitempty"`
	// DefaultHistory bounds the history of every namespace History does
	// not list. Default: 100 messages for 5 minutes. Size 0 keeps none.
	// +optional
	DefaultHistory *HistoryBounds `json:"defaultHistory,omitempty"`
}

// HistoryBounds bound a channel's history.
type HistoryBounds struct {
	// Size is the messages kept per channel; 0 keeps none.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10000
	Size int32 `json:"size"`
	// TTL is how long a channel's history is kept after its last message.
	// +kubebuilder:default="5m"
	// +optional
	TTL metav1.Duration `json:"ttl,omitempty"`
}
