package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/abusewatch/abusewatch/notify"
	"github.com/abusewatch/abusewatch/parser"
	"github.com/abusewatch/abusewatch/providers"
	"github.com/abusewatch/abusewatch/store"
)

// Notifier delivers chat messages; notify.Notifier is the real one.
// Channels are addressed by index; queued messages name them by ID, which
// survives a configuration reload that adds or removes channels.
type Notifier interface {
	Channels() int
	ID(channel int) string
	Matches(channel int, ev notify.Event) bool
	Send(ctx context.Context, channel int, ev notify.Event) error
}

// StateReader reads what a provider did to an IP; providers.Registry is the real one.
type StateReader interface {
	State(ctx context.Context, ip netip.Addr) (*providers.State, error)
}

// ServiceResolver lists the addresses a provider routes to one of its
// services; a StateReader that is one (providers.Registry) lets the state
// task give an IP-less incident its IP.
type ServiceResolver interface {
	ServiceIPs(ctx context.Context, provider, service string) ([]netip.Addr, error)
}

// severityKinds names severities by the notice kind that carries them.
var severityKinds = [...]parser.Kind{parser.KindStatus, parser.KindComplaint, parser.KindAttack, parser.KindBlock, parser.KindRescue}

func severityName(sev int) string {
	for _, k := range severityKinds {
		if k.Severity() == sev {
			return string(k)
		}
	}
	return ""
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
func wanting(n Notifier, ev notify.Event) []string {
	if n == nil {
		return nil
	}
	var out []string
	for c := range n.Channels() {
		if n.Matches(c, ev) {
			out = append(out, n.ID(c))
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
		sev = parser.KindRescue.Severity()
	case st.Blocked || st.Locked || st.Hacked:
		sev = parser.KindBlock.Severity()
	}
	if sev > 0 {
		escalated := inc.Incident
		escalated.Severity = sev
		raised, err := p.store.RaiseSeverity(ctx, inc.ID, sev, "provider state: "+stateSummary(st.Blocked, st.Locked || st.Hacked, st.Rescue),
			func() []store.NewTask {
				return p.eventTasks(&escalated, notify.IncidentEscalated, fmt.Sprintf("sev%d", sev), "")
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
// service, and gives the incident the first of them that is one of ours.
func (p *Pipeline) serviceIP(ctx context.Context, inc *store.IncidentDetail) (*store.IncidentDetail, error) {
	r, ok := p.providers.(ServiceResolver)
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
		if err := p.store.LearnIncidentIP(ctx, inc.ID, ip.String(), why); err != nil {
			return nil, err
		}
		return p.store.Incident(ctx, inc.ID)
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
		payload, _ := json.Marshal(notifyPayload{Event: string(kind), Channel: c, Detail: detail}) // plain struct, always marshals
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
		return p.send(ctx, pl.Channel, ev)
	}
	detail, err := p.store.Incident(ctx, t.IncidentID)
	if err != nil {
		return fmt.Errorf("notify: %w", err)
	}
	ev := p.event(&detail.Incident, pl)
	switch notify.EventKind(pl.Event) {
	case notify.DeadlineApproaching, notify.DeadlinePassed:
		if detail.Status == "resolved" {
			return nil // nobody needs a reminder for a closed case
		}
	case notify.IncidentUpdated:
		ev.Count = noticesBetween(detail.NoticeRecords, pl.From, pl.To)
		if ev.Count == 0 {
			return nil
		}
	}
	return p.send(ctx, pl.Channel, ev)
}

// send delivers ev to the channel with that ID; a retryable failure (5xx,
// 429, timeout) is tried again later. A channel removed from the
// configuration since the message was queued fails the task for good.
func (p *Pipeline) send(ctx context.Context, channelID string, ev notify.Event) error {
	n := p.chat()
	ch := -1
	if n != nil {
		for c := range n.Channels() {
			if n.ID(c) == channelID {
				ch = c
				break
			}
		}
	}
	if ch < 0 {
		return permanent(fmt.Errorf("notify: channel %q is no longer configured", channelID))
	}
	if err := n.Send(ctx, ch, ev); err != nil {
		if !notify.IsRetryable(err) {
			return permanent(err)
		}
		return err
	}
	return nil
}

func noticesBetween(notices []store.NoticeRecord, from, to time.Time) int {
	n := 0
	for _, r := range notices {
		if !r.Date.Before(from) && r.Date.Before(to) {
			n++
		}
	}
	return n
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
