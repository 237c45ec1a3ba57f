// Package pipeline is the glue of abusewatch: it turns raw mail into stored
// notices and incidents, plans the follow-up tasks in the same transaction,
// and runs the workers that carry those tasks out.
package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/abusewatch/abusewatch/parser"
	"github.com/abusewatch/abusewatch/store"
)

// Parse converts the parser's view of a mail into the store's. Every ingest
// and reparse parses with it, so one function decides how parse outcomes are
// recorded.
// reporters are the trusted reporters' domains (parser.Trust).
func Parse(opts parser.Options, reporters []string) func(raw []byte) store.Parsed {
	return func(raw []byte) store.Parsed {
		res, err := parser.Parse(raw, opts)
		parsed := store.Parsed{
			Status:    "ok",
			Reason:    res.Reason,
			Authentic: string(res.Authentic),
			MessageID: res.MessageID,
			Subject:   res.Subject,
			Date:      res.Date,
			From:      res.From,
		}
		switch {
		case errors.Is(err, parser.ErrTooLarge):
			limit := int64(opts.MaxBytes)
			if limit <= 0 {
				limit = parser.DefaultMaxBytes
			}
			parsed.Status, parsed.Reason = "oversize", oversizeReason(int64(len(raw)), limit)
		case err != nil:
			parsed.Status, parsed.Reason = "error", err.Error()
		case len(res.Notices) == 0:
			parsed.Status = "none"
		}
		for _, n := range res.Notices {
			parsed.Notices = append(parsed.Notices, storeNotice(n))
		}
		setTrust(&parsed, reporters)
		return parsed
	}
}

func storeNotice(n parser.Notice) store.Notice {
	events, _ := json.Marshal(n.Events) // []Event of strings and ints always marshals
	var deadline time.Time
	if n.Deadline != "" {
		deadline, _ = time.Parse(time.RFC3339, n.Deadline)
	}
	var date time.Time
	if n.Date != "" {
		date, _ = time.Parse(time.RFC3339, n.Date)
	}
	return store.Notice{
		Provider:  n.Provider,
		Kind:      string(n.Kind),
		Attack:    string(n.Attack),
		IP:        n.IP,
		Service:   n.Service,
		Case:      n.Case,
		Severity:  n.Kind.Severity(),
		Deadline:  deadline,
		Reporter:  n.Reporter,
		Rate:      n.Rate,
		Events:    events,
		Authentic: string(n.Authentic),
		MessageID: n.MessageID,
		Subject:   n.Subject,
		Date:      date,
	}
}

// Ingest stores one raw message and everything that follows from it, in one
// transaction: notices, incidents and the tasks planned for them.
func (p *Pipeline) Ingest(ctx context.Context, msg store.Message) (store.IngestResult, error) {
	if msg.ReceivedAt.IsZero() {
		msg.ReceivedAt = p.now()
	}
	// Parse before the transaction: DKIM asks DNS, which must not happen
	// while the store holds its write lock.
	var parsed store.Parsed
	if msg.Raw != nil {
		parsed = p.parse(msg.Raw)
	}
	res, err := p.store.Ingest(ctx, msg, parsed, p.planner.plan)
	if err != nil {
		return res, fmt.Errorf("pipeline: ingest: %w", err)
	}
	if res.Tasks > 0 {
		p.wake()
	}
	return res, nil
}

// Reparse parses every stored message again with the current parser. A DKIM
// verdict of pass or fail on record is kept: it was checked against the key
// published when the mail came, which the sender may since have rotated away.
// A mail that had none (unsigned, or DNS failing then) is verified again.
func (p *Pipeline) Reparse(ctx context.Context) (store.ReparseResult, error) {
	res, err := p.store.Reparse(ctx, p.reparse, p.planner.plan)
	if err != nil {
		return res, fmt.Errorf("pipeline: reparse: %w", err)
	}
	p.wake()
	return res, nil
}

// errPermanent marks a task failure that retrying cannot fix.
var errPermanent = errors.New("permanent failure")
