package ovh

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// ReplyTicket answers the support ticket that mails call [TICKET#number]:
// GET /support/tickets?ticketNumber=N finds its id, and
// POST /support/tickets/{id}/reply posts body.
//
// The reply is posted once, without the retries of other calls: a 5xx or a
// timeout may come after OVH stored the reply, and a second post would
// answer twice. The caller records the failure and an operator decides.
func (p *Provider) ReplyTicket(ctx context.Context, number, body string) error {
	if _, err := strconv.ParseUint(number, 10, 64); err != nil {
		return fmt.Errorf("ovh: ticket %q is not a ticket number", number)
	}
	var ids []int64
	if _, err := p.call(ctx, http.MethodGet, "/support/tickets?ticketNumber="+url.QueryEscape(number), nil, &ids); err != nil {
		return fmt.Errorf("ovh: find ticket %s: %w", number, err)
	}
	if len(ids) != 1 {
		return fmt.Errorf("ovh: ticket %s: the account has %d tickets of that number, not one", number, len(ids))
	}
	path := fmt.Sprintf("/support/tickets/%d/reply", ids[0])
	p.mu.Lock()
	err := p.c.CallAPIWithContext(ctx, http.MethodPost, path, map[string]string{"body": body}, nil, true)
	p.mu.Unlock()
	if err != nil {
		return fmt.Errorf("ovh: reply to ticket %s: %w", number, classify(http.MethodPost, path, err, 0))
	}
	p.logger.InfoContext(ctx, "support ticket answered", "ticket", number)
	return nil
}
