package mailbox

import (
	"errors"

	"github.com/emersion/go-sasl"
)

// xoauth2Client is the client side of Google's and Microsoft's XOAUTH2 SASL
// mechanism, which go-sasl does not provide.
type xoauth2Client struct {
	username, token string
}

var _ sasl.Client = (*xoauth2Client)(nil)

func (c *xoauth2Client) Start() (mech string, ir []byte, err error) {
	return "XOAUTH2", []byte("user=" + c.username + "\x01auth=Bearer " + c.token + "\x01\x01"), nil
}

// Next answers the server's only possible challenge, a JSON error, with an
// empty response so that the server ends the exchange with its NO.
func (c *xoauth2Client) Next(challenge []byte) ([]byte, error) {
	if len(challenge) == 0 {
		return nil, errors.New("xoauth2: unexpected empty challenge")
	}
	return []byte{}, nil
}
