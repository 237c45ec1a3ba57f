package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/notify"
	"github.com/abusewatch/abusewatch/parser"
	"github.com/abusewatch/abusewatch/store"
)

// Notice is the parser's notice, as `abusewatch parse` prints it.
type Notice = parser.Notice

// outcome is what parsing one mail gives the pipeline: the store's record
// and, for a provider's mail that no rule classified, the line that asks a
// person in chat to read it.
type outcome struct {
	parsed       store.Parsed
	unrecognised string // "unrecognised mail from hetzner.com: <subject>", "" otherwise
}

// Message statuses beyond the store's ok, none and error.
const statusUnrecognised = "unrecognised"

// parseOutcome converts the parser's view of a mail into the store's. It
// parses for every ingest and reparse, so one function decides how parse
// outcomes are recorded.
func parseOutcome(opts parser.Options, reporters []string) func(raw []byte) outcome {
	return func(raw []byte) outcome {
		res, err := parser.Parse(raw, opts)
		o := outcome{parsed: store.Parsed{
			Status:    "ok",
			Reason:    res.Reason,
			Authentic: string(res.Authentic),
			MessageID: res.MessageID,
			Subject:   res.Subject,
			Date:      res.Date,
			From:      res.From,
		}}
		switch {
		case errors.Is(err, parser.ErrTooLarge):
			limit := int64(opts.MaxBytes)
			if limit <= 0 {
				limit = parser.DefaultMaxBytes
			}
			o.parsed.Status, o.parsed.Reason = "oversize", oversizeReason(int64(len(raw)), limit)
		case err != nil:
			o.parsed.Status, o.parsed.Reason = "error", err.Error()
		case len(res.Notices) == 0:
			o.parsed.Status = "none"
		case res.Unrecognised != "":
			// Not a failure: the notices are kept, and a person is asked to read the mail.
			o.parsed.Status, o.parsed.Reason = statusUnrecognised, res.Unrecognised
			o.unrecognised = fmt.Sprintf("unrecognised mail from %s: %s (%s)", fromDomain(res.From), res.Subject, res.Unrecognised)
		}
		for _, n := range res.Notices {
			o.parsed.Notices = append(o.parsed.Notices, storeNotice(n))
		}
		setTrust(&o.parsed, reporters)
		return o
	}
}

func fromDomain(from string) string {
	if at := strings.LastIndexByte(from, '@'); at >= 0 {
		return from[at+1:]
	}
	return "an unknown sender"
}

// planFor is the plan of one mail's notices. An unrecognised mail tells
// chat once, under a key from its bytes, so that a second ingest (a
// duplicate) or a reparse adds no message; its notices' own chat messages
// are left out, so that one mail makes one message, not a page as well.
func (p *Pipeline) planFor(raw []byte, o outcome) store.PlanFunc {
	if o.unrecognised == "" {
		return p.planner.plan
	}
	sum := sha256.Sum256(raw)
	key := "unrecognised:" + hex.EncodeToString(sum[:12])
	return func(ch store.IncidentChange) []store.NewTask {
		var tasks []store.NewTask
		for _, t := range p.planner.plan(ch) {
			if t.Kind != taskNotify {
				tasks = append(tasks, t)
			}
		}
		n := ch.Notice
		for _, c := range p.channelsFor(string(notify.MailUnrecognised), ch) {
			payload, _ := json.Marshal(standaloneNotice{ // plain struct, always marshals
				notifyPayload: notifyPayload{Event: string(notify.MailUnrecognised), Channel: c, Detail: o.unrecognised},
				Provider:      n.Provider, IP: n.IP,
			})
			tasks = append(tasks, store.NewTask{Kind: taskNotify, Key: fmt.Sprintf("notify:%s:c-%s", key, c), Payload: payload})
		}
		return tasks
	}
}

// ParsedFile is one mail of a file as `abusewatch parse` shows it: its
// notices (or its kind:none line) and, with explain, how it was read.
type ParsedFile struct {
	Path    string
	Notices []Notice
	Format  string
	// Unrecognised says what was not understood of a provider's mail.
	Unrecognised string
	Explain      []string
}

// parserOptions are the parser's options from the configuration: the one
// place that maps them, for the daemon, ingest and parse alike.
func parserOptions(cfg *config.Config, lookupTXT func(string) ([]string, error)) parser.Options {
	o := parser.Options{
		MaxBytes:        int(cfg.Parser.MaxMessageBytes),
		TrustAuthservID: cfg.Parser.TrustAuthservID,
		LookupTXT:       lookupTXT,
	}
	if cfg.SMTP != nil {
		o.OwnAddresses = []string{cfg.SMTP.From}
	}
	return o
}

// ParseFiles parses mail files as ingest reads them (.eml, mbox, Maildir,
// "-" for stdin) and verifies DKIM as ingest does (DNS), storing nothing.
// explain records how each mail was read.
func ParseFiles(ctx context.Context, cfg *config.Config, paths []string, stdin io.Reader, explain bool, fn func(ParsedFile) error) error {
	return parseFiles(ctx, paths, stdin, parserOptions(cfg, newDNSCache().LookupTXT), explain, fn)
}

func parseFiles(ctx context.Context, paths []string, stdin io.Reader, opts parser.Options, explain bool, fn func(ParsedFile) error) error {
	opts.Explain = explain
	files, err := ListMail(paths)
	if err != nil {
		return err
	}
	limit := int64(opts.MaxBytes)
	if limit <= 0 {
		limit = parser.DefaultMaxBytes
	}
	for _, path := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := ReadMail(path, stdin, limit, func(f MailFile) error { return fn(parseFile(f, opts)) })
		if err != nil {
			return err
		}
	}
	return nil
}

func parseFile(f MailFile, opts parser.Options) ParsedFile {
	res, err := parser.Parse(f.Raw, opts)
	out := ParsedFile{Path: f.Path, Notices: res.Notices, Format: res.Format, Unrecognised: res.Unrecognised, Explain: res.Explain}
	if err != nil || len(out.Notices) == 0 {
		n := res.None()
		if err != nil {
			n.Reason = err.Error()
		}
		out.Notices = []Notice{n}
	}
	for i := range out.Notices {
		out.Notices[i].File = f.Path
	}
	return out
}
