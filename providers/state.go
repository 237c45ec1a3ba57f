package providers

import (
	"encoding/json"
	"net/netip"
	"time"
)

// Block sources.
const (
	SourceAntihack  = "antihack"
	SourceAntispam  = "antispam"
	SourceRobotLock = "robot_lock"
	SourceCloudIP   = "cloud_ip"
)

// State is the normalized view of what a provider did to an IP and its
// server. Blocked, Locked, Rescue and CheckedAt are always present in JSON:
// incidents store them and the CLI prints them.
//
//   - Blocked: OVH anti-hack or anti-spam block, Robot IP lock, Cloud IP blocked.
//   - Locked: OVH server hacked/hackedBlocked, Cloud server locked.
//   - Rescue: OVH boot type rescue, VPS netboot rescue or state rescued, Robot
//     rescue active, Cloud rescue_enabled.
type State struct {
	Provider    string     `json:"provider"`
	IP          netip.Addr `json:"ip"`
	Service     string     `json:"service"`
	ServiceType string     `json:"service_type"`
	Blocked     bool       `json:"blocked"`
	Locked      bool       `json:"locked"`
	Rescue      bool       `json:"rescue"`
	// Hacked is OVH's hacked / hackedBlocked server state.
	Hacked bool `json:"hacked"`
	// ServerStatus is the provider's own word for the server (ok, hacked,
	// running, rescued, ready, in process, …).
	ServerStatus string      `json:"server_status,omitempty"`
	Blocks       []Block     `json:"blocks,omitempty"`
	Mitigation   *Mitigation `json:"mitigation,omitempty"`
	Firewall     *Firewall   `json:"firewall,omitempty"`
	CheckedAt    time.Time   `json:"checked_at"`
	// Raw keeps the provider's answers by request path, for the record and
	// for what the normalized fields leave out.
	Raw map[string]json.RawMessage `json:"raw,omitempty"`
}

// Block is one block the provider holds on the IP.
type Block struct {
	Source string     `json:"source"` // antihack, antispam, robot_lock, cloud_ip
	State  string     `json:"state,omitempty"`
	Since  *time.Time `json:"since,omitempty"`
	// UnblockIn is how many seconds remain before an unblock is accepted.
	UnblockIn int `json:"unblock_in"`
}

// Mitigation is OVH's DDoS mitigation on the IP.
type Mitigation struct {
	Active bool   `json:"active"`
	Auto   bool   `json:"auto"`
	State  string `json:"state,omitempty"`
}

// Firewall is the provider's edge firewall in front of the IP.
type Firewall struct {
	Enabled bool   `json:"enabled"`
	Status  string `json:"status,omitempty"`
	Rules   []Rule `json:"rules"`
}

// Rule is one edge firewall rule, normalized.
type Rule struct {
	Provider string     `json:"provider"`
	IP       netip.Addr `json:"ip"`
	// Source is the prefix the rule matches ("" prefix: any source).
	Source netip.Prefix `json:"source"`
	// Action is allow or deny.
	Action string `json:"action"`
	// Ref is the provider's handle on the rule: OVH sequence, Robot rule
	// name, Cloud firewall id.
	Ref     string `json:"ref,omitempty"`
	Comment string `json:"comment,omitempty"`
	State   string `json:"state,omitempty"`
	Ours    bool   `json:"ours"`
	// Restore says what Revoke must undo besides removing the rule:
	// RestoreDisable or RestoreDelete the firewall ("" for nothing).
	Restore string `json:"restore,omitempty"`
}

// Rule actions and restore steps.
const (
	ActionAllow = "allow"
	ActionDeny  = "deny"

	RestoreDisable = "disable_firewall"
	RestoreDelete  = "delete_firewall"
)
