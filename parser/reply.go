package parser

import (
	"regexp"
	"strings"

	gomail "github.com/emersion/go-message/mail"
)

// Reply is what answering a provider's mail needs from it.
type Reply struct {
	// MessageID is the mail's Message-ID without angle brackets.
	MessageID string
	// References are the ids of the mail's References field, in order.
	References []string
	// Subject is the decoded, unfolded subject, exactly as the provider
	// wrote it (an AbuseID in it stays byte for byte).
	Subject string
	// To is where the provider asks answers to go: its Reply-To address,
	// else its From address.
	To string
	// StatementLink is a Hetzner notice's web-form link for the statement
	// ("…/statements/?token=…"), "" when the mail has none.
	StatementLink string
	// Ticket is the number of an OVH support ticket ([TICKET#N] in the
	// subject), "" when it is none.
	Ticket string
}

var (
	statementLink = regexp.MustCompile(`https?://abuse\.hetzner\.(?:com|de)/statements/?\?token=[A-Za-z0-9_-]+`)
	ticketSubject = regexp.MustCompile(`\[TICKET#([0-9]{4,20})\]`)
)

// ReplyOf reads the fields of raw that a reply needs.
func ReplyOf(raw []byte) (Reply, error) {
	m, err := readMail(raw)
	if err != nil {
		return Reply{}, err
	}
	r := Reply{MessageID: m.messageID, Subject: m.subject, To: m.from}
	// The address as written: the local part of an OVH ticket address
	// (ticket+REF@…) is the provider's to interpret, case and all.
	for _, field := range []string{"From", "Reply-To"} {
		v := m.header.get(field)
		if v == "" {
			continue
		}
		if addrs, err := gomail.ParseAddressList(v); err == nil && len(addrs) > 0 && strings.Count(addrs[0].Address, "@") == 1 {
			r.To = addrs[0].Address
		}
	}
	for _, f := range strings.Fields(m.header.get("References")) {
		if id := messageID(f); id != "" {
			r.References = append(r.References, id)
		}
	}
	r.StatementLink = statementLink.FindString(m.text)
	if sm := ticketSubject.FindStringSubmatch(m.subject); sm != nil {
		r.Ticket = sm[1]
	}
	return r, nil
}
