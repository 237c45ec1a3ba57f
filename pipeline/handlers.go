package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/notify"
	"github.com/abusewatch/abusewatch/parser"
	"github.com/abusewatch/abusewatch/providers"
	"github.com/abusewatch/abusewatch/store"
)

// StateReader reads what a provider did to an IP; providers.Registry is the real one.
type StateReader interface {
	State(ctx context.Context, ip netip.Addr) (*providers.State, error)
}

// serviceResolver lists the addresses a provider routes to one of its
// services; a StateReader that is one (providers.Registry) lets the state
// task give an IP-less incident its IP.
type serviceResolver interface {
	ServiceIPs(ctx context.Context, provider, service string) ([]netip.Addr, error)
}

// severityName is the name of an incident's severity for chat, "" for none:
// notify reads "" as an event without a severity.
func severityName(rank int) string {
	if rank <= 0 {
		return ""
	}
	return config.SeverityName(rank)
}

// severityOf is the rank of a notice kind.
func severityOf(k parser.Kind) int {
	rank, _ := config.SeverityRank(string(k))
	return rank
}

// channelsFor lists the IDs of the channels whose filters want event about
// the change.
func (p *Pipeline) channelsFor(event string, ch store.IncidentChange) []string {
	return wanting(p.chat(), notify.Event{
		Kind:     notify.EventKind(event),
		Severity: severityName(ch.NewSeverity),
		Provider: ch.Provider,
		Attack:   ch.Notice.Attack,
		IP:       ch.IP,
	})
}

// wanting lists the IDs of the channels whose filters want ev.
func wanting(n *notify.Notifier, ev notify.Event) []string {
	var out []string
	for _, c := range n.Channels() {
		if c.Matches(ev) {
			out = append(out, c.ID())
		}
	}
	return out
}

// handleState reads the provider's state of the incident's IP, keeps it, and
// escalates the incident when the provider went further than the mail said.
func (p *Pipeline) handleState(ctx context.Context, t *store.Task) error {
	inc, err := p.store.Incident(ctx, t.IncidentID)
	if err != nil {
		return fmt.Errorf("state: %w", err)
	}
	if inc.IP == "" && inc.Service != "" {
		if inc, err = p.serviceIP(ctx, inc); err != nil {
			return err
		}
	}
	ip, err := netip.ParseAddr(inc.IP)
	if err != nil {
		return permanent(fmt.Errorf("state: incident %d has no IP", inc.ID))
	}
	st, err := p.providers.State(ctx, ip)
	if errors.Is(err, providers.ErrNotOurs) {
		_ = p.store.AddTimeline(ctx, inc.ID, "state", fmt.Sprintf("%s is on no configured provider account", ip))
		return permanent(err)
	}
	if err != nil {
		return fmt.Errorf("state %s: %w", ip, err)
	}
	detail, err := json.Marshal(st)
	if err != nil {
		return permanent(err)
	}
	prev, err := p.store.SaveState(ctx, inc.ID, store.StateSnapshot{
		Provider: st.Provider, IP: ip.String(),
		Blocked: st.Blocked, Locked: st.Locked || st.Hacked, Rescue: st.Rescue,
		CheckedAt: st.CheckedAt, Detail: detail,
	})
	if err != nil {
		return err
	}
	sev := 0
	switch {
	case st.Rescue:
		sev = severityOf(parser.KindRescue)
	case st.Blocked || st.Locked || st.Hacked:
		sev = severityOf(parser.KindBlock)
	}
	if sev > 0 {
		escalated := inc.Incident
		escalated.Severity = sev
		why := "provider state: " + stateSummary(st.Blocked, st.Locked || st.Hacked, st.Rescue)
		raised, err := p.store.RaiseSeverity(ctx, inc.ID, sev, why,
			func() []store.NewTask {
				return p.eventTasks(&escalated, notify.IncidentEscalated, fmt.Sprintf("sev%d", sev),
					fmt.Sprintf("raised from %s: %s", severityName(inc.Severity), why))
			})
		if err != nil {
			return err
		}
		if raised {
			p.wake()
		}
	}
	if err := p.triageFromState(ctx, inc, st, sev); err != nil {
		return err
	}
	p.planUnblock(ctx, inc.ID, st)
	if prev != nil && (prev.Blocked != st.Blocked || prev.Locked != (st.Locked || st.Hacked) || prev.Rescue != st.Rescue) {
		change := fmt.Sprintf("%s → %s", stateSummary(prev.Blocked, prev.Locked, prev.Rescue), stateSummary(st.Blocked, st.Locked || st.Hacked, st.Rescue))
		p.enqueueEvent(ctx, inc.ID, notify.StateChanged, fmt.Sprintf("t%d", st.CheckedAt.Unix()), change)
	}
	return nil
}

// serviceIP asks the provider which addresses it routes to the incident's
// service (OVH service name, Robot server number), and gives the incident
// the first of them that is one of ours; it returns the incident that holds
// the notices afterwards.
func (p *Pipeline) serviceIP(ctx context.Context, inc *store.IncidentDetail) (*store.IncidentDetail, error) {
	r, ok := p.providers.(serviceResolver)
	if !ok {
		return inc, nil
	}
	ips, err := r.ServiceIPs(ctx, inc.Provider, inc.Service)
	if errors.Is(err, providers.ErrNotOurs) {
		return inc, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state: addresses of %s: %w", inc.Service, err)
	}
	for _, a := range ips {
		ip, err := globalTarget(a.String())
		if err != nil {
			continue
		}
		why := fmt.Sprintf("the %s API routes %s to %s", inc.Provider, ip, inc.Service)
		// The incident may be merged into the open incident the IP
		// already has: the state is then read for that one.
		into, err := p.store.LearnIncidentIP(ctx, inc.ID, ip.String(), why)
		if err != nil {
			return nil, err
		}
		return p.store.Incident(ctx, into)
	}
	_ = p.store.AddTimeline(ctx, inc.ID, "state", fmt.Sprintf("the %s API routes no address of ours to %s", inc.Provider, inc.Service))
	return inc, nil
}

// planUnblock follows the blocks that the provider lets us lift ourselves
// (OVH anti-hack and anti-spam): while one still has a wait, the state is
// read again when the wait ends; once it has none, the team hears that
// `abusewatch unblock` may now be run, once per block.
func (p *Pipeline) planUnblock(ctx context.Context, incidentID int64, st *providers.State) {
	for _, b := range st.Blocks {
		if b.Source != providers.SourceAntihack && b.Source != providers.SourceAntispam {
			continue
		}
		var since int64
		if b.Since != nil {
			since = b.Since.Unix()
		}
		block := fmt.Sprintf("%s:%d", b.Source, since)
		if b.UnblockIn > 0 {
			if _, _, err := p.store.Enqueue(ctx, store.NewTask{
				Kind: taskState, Key: fmt.Sprintf("state:%d:unblock:%s", incidentID, block), IncidentID: incidentID,
				RunAt: p.now().Add(time.Duration(b.UnblockIn)*time.Second + time.Second),
			}); err != nil {
				p.log.Warn("unblock re-check not planned", "incident", incidentID, "err", err)
			}
			continue
		}
		p.enqueueEvent(ctx, incidentID, notify.UnblockPossible, block,
			fmt.Sprintf("the %s block of %s may be lifted now: abusewatch unblock %s", b.Source, st.IP, st.IP))
	}
}

func stateSummary(blocked, locked, rescue bool) string {
	s := ""
	for _, f := range []struct {
		on   bool
		name string
	}{{blocked, "blocked"}, {locked, "locked"}, {rescue, "rescue"}} {
		if f.on {
			if s != "" {
				s += ", "
			}
			s += f.name
		}
	}
	if s == "" {
		return "normal"
	}
	return s
}

// enqueueEvent plans the delivery of an event outside ingest (from a task).
func (p *Pipeline) enqueueEvent(ctx context.Context, incidentID int64, kind notify.EventKind, discriminator, detail string) {
	if p.chat() == nil {
		return
	}
	inc, err := p.store.Incident(ctx, incidentID)
	if err != nil {
		p.log.Warn("event not planned", "incident", incidentID, "event", kind, "err", err)
		return
	}
	for _, task := range p.eventTasks(&inc.Incident, kind, discriminator, detail) {
		if _, _, err := p.store.Enqueue(ctx, task); err != nil {
			p.log.Warn("event not planned", "incident", incidentID, "event", kind, "err", err)
		}
	}
	p.wake()
}

// eventTasks plans the delivery of an event about inc to every channel that
// wants it, once per discriminator. It does not touch the Store, so that it
// can plan inside a store transaction.
func (p *Pipeline) eventTasks(inc *store.Incident, kind notify.EventKind, discriminator, detail string) []store.NewTask {
	var tasks []store.NewTask
	for _, c := range wanting(p.chat(), p.event(inc, notifyPayload{Event: string(kind)})) {
		payload, _ := json.Marshal(notifyPayload{Event: string(kind), Channel: c, Detail: detail, Severity: inc.Severity}) // plain struct, always marshals
		tasks = append(tasks, store.NewTask{
			Kind: taskNotify, Key: fmt.Sprintf("notify:%d:%s:%s:c-%s", inc.ID, kind, discriminator, c),
			Payload: payload, IncidentID: inc.ID, RunAt: p.now(),
		})
	}
	return tasks
}

// standaloneNotice is the payload of a notify task that belongs to no
// incident (whitelist grants, a failing mailbox): the task's IncidentID is 0,
// so the payload carries what the message says.
type standaloneNotice struct {
	notifyPayload
	Provider string `json:"provider"`
	IP       string `json:"ip"`
}

// enqueueStandalone plans an event that belongs to no incident, once per
// key and channel.
func (p *Pipeline) enqueueStandalone(ctx context.Context, key string, kind notify.EventKind, provider, ip, detail string) {
	for _, c := range wanting(p.chat(), notify.Event{Kind: kind, Provider: provider, IP: ip}) {
		payload, _ := json.Marshal(standaloneNotice{ // plain struct, always marshals
			notifyPayload: notifyPayload{Event: string(kind), Channel: c, Detail: detail},
			Provider:      provider, IP: ip,
		})
		if _, _, err := p.store.Enqueue(ctx, store.NewTask{
			Kind: taskNotify, Key: fmt.Sprintf("notify:%s:c-%s", key, c), Payload: payload, RunAt: p.now(),
		}); err != nil {
			p.log.Warn("event not planned", "key", key, "event", kind, "err", err)
		}
	}
	p.wake()
}

// MailboxFailing tells the team, once per failing spell, that a mailbox has
// been failing since since: abuse mail is piling up unread.
func (p *Pipeline) MailboxFailing(ctx context.Context, mailbox string, since time.Time, lastErr string) {
	// The watcher's errors start with "mailbox NAME: " too: name it once.
	lastErr = strings.TrimPrefix(lastErr, "mailbox "+mailbox+": ")
	detail := fmt.Sprintf("mailbox %s failing since %s: %s", mailbox, since.UTC().Format(time.RFC3339), lastErr)
	p.enqueueStandalone(ctx, fmt.Sprintf("mailbox:%s:%d", mailbox, since.Unix()), notify.MailboxFailing, "", "", detail)
}

// handleNotify delivers one event to one channel. The task's key makes it
// go out once; a retryable failure (5xx, 429, timeout) is tried again later.
func (p *Pipeline) handleNotify(ctx context.Context, t *store.Task) error {
	var pl notifyPayload
	if err := json.Unmarshal(t.Payload, &pl); err != nil {
		return permanent(fmt.Errorf("notify: payload: %w", err))
	}
	if t.IncidentID == 0 {
		// Operational events (whitelist grants) belong to no incident: the
		// payload carries what the message says.
		ev, err := p.standaloneEvent(t.Payload)
		if err != nil {
			return permanent(err)
		}
		return p.send(ctx, t, pl.Channel, ev)
	}
	detail, err := p.store.Incident(ctx, t.IncidentID)
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	ev := p.event(&detail.Incident, pl)
	ev.Deadline = latestDeadline(detail.NoticeRecords)
	switch notify.EventKind(pl.Event) {
	case notify.IncidentOpened, notify.IncidentEscalated:
		if pl.Severity > 0 {
			ev.Severity = severityName(pl.Severity)
		}
	case notify.DeadlineApproaching, notify.DeadlinePassed:
		if detail.Status == "resolved" {
			return nil // nobody needs a reminder for a closed case
		}
	case notify.IncidentUpdated:
		if !digest(&ev, noticesBetween(detail.NoticeRecords, pl.From, pl.To), pl.From, pl.To) {
			return nil
		}
	}
	return p.send(ctx, t, pl.Channel, ev)
}

// digest makes an update message say what is new: the notices of its
// window, by kind and attack, and the window itself, so that two updates of
// one incident never read the same. One unverified notice marks the update
// unverified, even on an incident a verified notice opened. It reports
// false when the window holds no notice (a reparse moved them).
func digest(ev *notify.Event, notices []store.NoticeRecord, from, to time.Time) bool {
	if len(notices) == 0 {
		return false
	}
	var order []string
	counts := map[string]int{}
	for _, r := range notices {
		what := r.Kind
		if r.Attack != "" && r.Attack != string(parser.AttackUnknown) {
			what += " " + r.Attack
		}
		if counts[what] == 0 {
			order = append(order, what)
		}
		counts[what]++
		if r.Authentic != string(parser.AuthPass) {
			ev.Unverified = true
		}
	}
	parts := make([]string, len(order))
	for i, what := range order {
		parts[i] = fmt.Sprintf("%d× %s", counts[what], what)
	}
	ev.Count = len(notices)
	ev.Detail = fmt.Sprintf("new %s–%s UTC: %s", from.UTC().Format("2006-01-02 15:04"), to.UTC().Format("15:04"), strings.Join(parts, ", "))
	return true
}

// latestDeadline is the latest deadline any notice of the incident set.
func latestDeadline(notices []store.NoticeRecord) time.Time {
	var d time.Time
	for _, r := range notices {
		if r.Deadline.After(d) {
			d = r.Deadline
		}
	}
	return d
}

// send delivers ev to the channel with that ID; Send classifies its
// failures (5xx, 429 and timeouts are tried again later). A channel removed
// from the configuration since the message was queued fails the task for
// good.
func (p *Pipeline) send(ctx context.Context, t *store.Task, channelID string, ev notify.Event) error {
	ch := p.chat().Channel(channelID)
	if ch == nil {
		return permanent(fmt.Errorf("notify: channel %q is no longer configured", channelID))
	}
	// Recorded before the send, so that a watcher taking the task over
	// knows whether this one may have sent it; and only then does the
	// message say it may repeat.
	if err := p.store.BeginSend(ctx, t.ID, t.LeaseOwner, p.now().Add(p.lease)); err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	ev.Repeat = t.MaybeSent
	return ch.Send(ctx, ev)
}

func noticesBetween(notices []store.NoticeRecord, from, to time.Time) []store.NoticeRecord {
	var in []store.NoticeRecord
	for _, r := range notices {
		if !r.Date.Before(from) && r.Date.Before(to) {
			in = append(in, r)
		}
	}
	return in
}

// event builds the chat event for an incident from its stored facts.
func (p *Pipeline) event(inc *store.Incident, pl notifyPayload) notify.Event {
	ev := notify.Event{
		Kind:       notify.EventKind(pl.Event),
		IncidentID: inc.ID,
		Severity:   severityName(inc.Severity),
		Provider:   inc.Provider,
		Attack:     inc.Attack,
		IP:         inc.IP,
		Service:    inc.Service,
		Case:       inc.Case,
		Unverified: inc.Unverified,
		Detail:     pl.Detail,
		Count:      1,
		At:         p.now(),
	}
	if s := inc.State; s != nil {
		ev.Blocked, ev.Locked, ev.Rescue = s.Blocked, s.Locked, s.Rescue
	}
	return ev
}
