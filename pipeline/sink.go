package pipeline

import (
	"context"
	"io"

	"github.com/abusewatch/abusewatch/mailbox"
	"github.com/abusewatch/abusewatch/store"
)

// mailboxSink is the pipeline seen by a mailbox watcher: every fetched
// message is ingested with its checkpoint in one transaction.
type mailboxSink struct{ P *Pipeline }

var _ mailbox.LargeSink = mailboxSink{}

// Checkpoint implements mailbox.Sink.
func (s mailboxSink) Checkpoint(ctx context.Context, name string) (uint32, uint32, error) {
	return s.P.store.Checkpoint(ctx, name)
}

// ResetCheckpoint implements mailbox.Sink.
func (s mailboxSink) ResetCheckpoint(ctx context.Context, name string, uidValidity uint32) error {
	return s.P.store.ResetCheckpoint(ctx, name, uidValidity)
}

// DeliverLarge implements mailbox.LargeSink: the mail is streamed through a
// spool file into the database, with its row in one transaction.
func (s mailboxSink) DeliverLarge(ctx context.Context, d mailbox.Delivery, body io.Reader) (kept bool, err error) {
	_, kept, err = s.P.IngestLarge(ctx, store.Source{Mailbox: d.Mailbox, UIDValidity: d.UIDValidity, UID: d.UID}, body)
	return kept, err
}

// Deliver implements mailbox.Sink.
func (s mailboxSink) Deliver(ctx context.Context, d mailbox.Delivery) error {
	_, err := s.P.Ingest(ctx, deliveredMessage(d))
	return err
}

// deliveredMessage is the store's message for a mailbox delivery.
func deliveredMessage(d mailbox.Delivery) store.Message {
	return store.Message{
		Source: store.Source{Mailbox: d.Mailbox, UIDValidity: d.UIDValidity, UID: d.UID},
		Raw:    d.Raw,
		Size:   d.Size,
		Reason: d.Reason,
	}
}

var _ mailbox.BatchSink = mailboxSink{}

// DeliverBatch implements mailbox.BatchSink: the messages of one FETCH are
// parsed side by side and stored in one transaction (store.IngestBatch).
func (s mailboxSink) DeliverBatch(ctx context.Context, ds []mailbox.Delivery) error {
	msgs := make([]store.Message, len(ds))
	for i, d := range ds {
		msgs[i] = deliveredMessage(d)
	}
	return s.P.ingestAll(ctx, msgs)
}
