package robot

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// MaxRules is Robot's limit of firewall rules per direction.
const MaxRules = 10

// Firewall statuses.
const (
	FirewallActive    = "active"
	FirewallDisabled  = "disabled"
	FirewallInProcess = "in process"
)

// Firewall is GET /firewall/{number}.
type Firewall struct {
	ServerIP     string `json:"server_ip"`
	ServerNumber int    `json:"server_number"`
	Status       string `json:"status"`
	FilterIPv6   bool   `json:"filter_ipv6"`
	WhitelistHOS bool   `json:"whitelist_hos"`
	Port         string `json:"port"`
	Rules        Rules  `json:"rules"`
}

// Rules are the firewall's rules per direction, applied in order.
type Rules struct {
	Input  []Rule `json:"input"`
	Output []Rule `json:"output"`
}

// Rule is one firewall rule; empty fields match anything.
type Rule struct {
	IPVersion string `json:"ip_version"`
	Name      string `json:"name"`
	DstIP     string `json:"dst_ip"`
	SrcIP     string `json:"src_ip"`
	DstPort   string `json:"dst_port"`
	SrcPort   string `json:"src_port"`
	Protocol  string `json:"protocol"`
	TCPFlags  string `json:"tcp_flags"`
	Action    string `json:"action"` // accept | discard
}

// GetFirewall reads a server's firewall.
func (c *Client) GetFirewall(ctx context.Context, number int) (*Firewall, json.RawMessage, error) {
	var out Firewall
	raw, err := c.get(ctx, "/firewall/"+strconv.Itoa(number), "firewall", &out)
	return &out, raw, err
}

// SetFirewall replaces the whole firewall configuration of a server: Robot
// keeps nothing of the old one, so fw must carry every rule to keep. Robot
// answers FIREWALL_IN_PROCESS while an earlier change is being applied.
func (c *Client) SetFirewall(ctx context.Context, number int, fw *Firewall) (*Firewall, error) {
	path := "/firewall/" + strconv.Itoa(number)
	body, err := c.Do(ctx, http.MethodPost, path, encodeFirewall(fw))
	if err != nil {
		return nil, err
	}
	var out Firewall
	return &out, unwrap(path, body, "firewall", &out)
}

// encodeFirewall writes the form Robot takes: status, filter_ipv6,
// whitelist_hos and rules[input][N][field]=value.
func encodeFirewall(fw *Firewall) url.Values {
	v := url.Values{}
	v.Set("status", fw.Status)
	v.Set("filter_ipv6", strconv.FormatBool(fw.FilterIPv6))
	v.Set("whitelist_hos", strconv.FormatBool(fw.WhitelistHOS))
	for dir, rules := range map[string][]Rule{"input": fw.Rules.Input, "output": fw.Rules.Output} {
		for i, r := range rules {
			for field, val := range r.fields() {
				if val != "" {
					v.Set(fmt.Sprintf("rules[%s][%d][%s]", dir, i, field), val)
				}
			}
		}
	}
	return v
}

func (r Rule) fields() map[string]string {
	return map[string]string{
		"ip_version": r.IPVersion, "name": r.Name, "dst_ip": r.DstIP, "src_ip": r.SrcIP,
		"dst_port": r.DstPort, "src_port": r.SrcPort, "protocol": r.Protocol, "tcp_flags": r.TCPFlags, "action": r.Action,
	}
}
