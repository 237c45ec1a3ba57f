package robot

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
)

// IP is GET /ip/{ip}.
type IP struct {
	IP              string `json:"ip"`
	ServerIP        string `json:"server_ip"`
	ServerNumber    int    `json:"server_number"`
	Locked          bool   `json:"locked"`
	SeparateMAC     string `json:"separate_mac"`
	TrafficWarnings bool   `json:"traffic_warnings"`
}

// Server is GET /server/{number}.
type Server struct {
	ServerIP     string   `json:"server_ip"`
	ServerNumber int      `json:"server_number"`
	ServerName   string   `json:"server_name"`
	Product      string   `json:"product"`
	DC           string   `json:"dc"`
	Status       string   `json:"status"` // ready | in process
	Cancelled    bool     `json:"cancelled"`
	IP           []string `json:"ip"`
}

// Rescue is GET /boot/{number}/rescue.
type Rescue struct {
	ServerIP     string `json:"server_ip"`
	ServerNumber int    `json:"server_number"`
	Active       bool   `json:"active"`
	// OS and Arch are the choices while inactive, the one in use while
	// active: Robot sends an array in one case and a scalar in the other.
	OS   Choices `json:"os"`
	Arch Choices `json:"arch"`
}

// Choices decodes a string, a number, an array of them, or null.
type Choices []string

// UnmarshalJSON implements json.Unmarshaler.
func (c *Choices) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	var items []json.RawMessage
	if len(b) > 0 && b[0] == '[' {
		if err := json.Unmarshal(b, &items); err != nil {
			return err
		}
	} else if !bytes.Equal(b, []byte("null")) {
		items = []json.RawMessage{b}
	}
	out := Choices{}
	for _, it := range items {
		var s string
		if err := json.Unmarshal(it, &s); err == nil {
			out = append(out, s)
			continue
		}
		var n json.Number
		if err := json.Unmarshal(it, &n); err != nil {
			return fmt.Errorf("robot: choice %s is neither a string nor a number", it)
		}
		out = append(out, n.String())
	}
	*c = out
	return nil
}

// GetIP reads an IP of the account.
func (c *Client) GetIP(ctx context.Context, ip string) (*IP, json.RawMessage, error) {
	var out IP
	raw, err := c.get(ctx, "/ip/"+url.PathEscape(ip), "ip", &out)
	return &out, raw, err
}

// GetServer reads a server.
func (c *Client) GetServer(ctx context.Context, number int) (*Server, json.RawMessage, error) {
	var out Server
	raw, err := c.get(ctx, "/server/"+strconv.Itoa(number), "server", &out)
	return &out, raw, err
}

// GetRescue reads a server's rescue system state.
func (c *Client) GetRescue(ctx context.Context, number int) (*Rescue, json.RawMessage, error) {
	var out Rescue
	raw, err := c.get(ctx, "/boot/"+strconv.Itoa(number)+"/rescue", "rescue", &out)
	return &out, raw, err
}
