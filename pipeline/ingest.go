// Package pipeline is the glue of abusewatch: it turns raw mail into stored
// notices and incidents, plans the follow-up tasks in the same transaction,
// and runs the workers that carry those tasks out.
package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/abusewatch/abusewatch/parser"
	"github.com/abusewatch/abusewatch/store"
)

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
		Severity:  severityOf(n.Kind),
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
	// Parse before the transaction: DKIM asks DNS, which must not happen
	// while the store holds its write lock.
	it := p.parseBatch([]store.Message{msg})[0]
	res, err := p.store.Ingest(ctx, it.Msg, it.Parsed, it.Plan)
	if err != nil {
		return res, fmt.Errorf("pipeline: ingest: %w", err)
	}
	if res.Tasks > 0 {
		p.wake()
	}
	return res, nil
}

// ingestAll stores msgs in one transaction, all or none (store.IngestBatch),
// parsed first, side by side.
func (p *Pipeline) ingestAll(ctx context.Context, msgs []store.Message) error {
	res, err := p.store.IngestBatch(ctx, p.parseBatch(msgs))
	if err != nil {
		return fmt.Errorf("pipeline: ingest: %w", err)
	}
	p.wakeFor(res)
	return nil
}

// parseBatch parses msgs for the store, one per CPU at a time (DKIM waits
// on DNS), and sets the time of those that have none.
func (p *Pipeline) parseBatch(msgs []store.Message) []store.IngestItem {
	items := make([]store.IngestItem, len(msgs))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, msg := range msgs {
		if msg.ReceivedAt.IsZero() {
			msg.ReceivedAt = p.now()
		}
		items[i].Msg = msg
		if msg.Raw == nil {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			o := p.parse(msg.Raw)
			items[i].Parsed, items[i].Plan = o.parsed, p.planFor(msg.Raw, o)
		})
	}
	wg.Wait()
	return items
}

// storeBatch stores parsed messages in one transaction (see
// store.IngestBatch). Should that transaction fail, each message is
// ingested alone, so that one that cannot be stored holds back no other;
// errs[i] is then that message's error.
func (p *Pipeline) storeBatch(ctx context.Context, items []store.IngestItem) (res []store.IngestResult, errs []error) {
	errs = make([]error, len(items))
	res, err := p.store.IngestBatch(ctx, items)
	if err != nil {
		res = make([]store.IngestResult, len(items))
		for i, it := range items {
			if res[i], errs[i] = p.store.Ingest(ctx, it.Msg, it.Parsed, it.Plan); errs[i] != nil {
				errs[i] = fmt.Errorf("pipeline: ingest: %w", errs[i])
			}
		}
	}
	p.wakeFor(res)
	return res, errs
}

// wakeFor wakes the workers when an ingest created tasks.
func (p *Pipeline) wakeFor(res []store.IngestResult) {
	for _, r := range res {
		if r.Tasks > 0 {
			p.wake()
			return
		}
	}
}

// Reparse parses every stored message again with the current parser. A DKIM
// verdict of pass or fail on record is kept: it was checked against the key
// published when the mail came, which the sender may since have rotated away.
// A mail that had none (unsigned, or DNS failing then) is verified again.
func (p *Pipeline) Reparse(ctx context.Context) (store.ReparseResult, error) {
	// store.Reparse plans each message's changes right after parsing it, so
	// the plan of the message last parsed is the one that applies.
	var cur outcome
	var curRaw []byte
	res, err := p.store.Reparse(ctx, func(ctx context.Context, m store.StoredMail) store.Parsed {
		cur, curRaw = p.reparse(ctx, m)
		return cur.parsed
	}, func(ch store.IncidentChange) []store.NewTask { return p.planFor(curRaw, cur)(ch) })
	if err != nil {
		return res, fmt.Errorf("pipeline: reparse: %w", err)
	}
	p.wake()
	return res, nil
}
