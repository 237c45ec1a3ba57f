package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"

	"github.com/abusewatch/abusewatch/parser"
	"github.com/abusewatch/abusewatch/providers"
	"github.com/abusewatch/abusewatch/store"
)

// Who may trigger host actions (DESIGN.md): a notice vouched for by DKIM
// (the provider's own domains, or a trusted reporter's: parser.Trust), or
// the provider's API confirming what a notice says. Either way the target is
// one of ours: a global unicast address in the inventory or, as the state
// task learns, in a provider account.

// triagePayload is what a triage task carries: why it may run.
type triagePayload struct {
	Trigger string `json:"trigger"`
	// Jobs limits an operator's run to the named jobs (none: all that apply).
	Jobs []string `json:"jobs,omitempty"`
}

// globalTarget parses ip and accepts it only as a global unicast address
// without a zone: never loopback, link-local, private, multicast or
// unspecified, whatever a mail claims.
func globalTarget(ip string) (netip.Addr, error) {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%q is not an IP address", ip)
	}
	a = a.Unmap()
	if a.Zone() != "" || !a.IsGlobalUnicast() || a.IsPrivate() {
		return netip.Addr{}, fmt.Errorf("%s is not a global unicast address", a.WithZone(""))
	}
	return a, nil
}

// noticeTrust recomputes a notice's trust from its verdict, as reparse must
// after it keeps a verdict on record.
func noticeTrust(n store.Notice, from string, reporters []string) string {
	return parser.Trust(parser.Notice{Provider: n.Provider, Authentic: parser.Authenticity(n.Authentic)}, from, reporters)
}

// setTrust gives each notice of the mail its trust.
func setTrust(p *store.Parsed, reporters []string) {
	for i := range p.Notices {
		p.Notices[i].Trust = noticeTrust(p.Notices[i], p.From, reporters)
	}
}

// triageTask plans one triage run of an incident at a severity; the key is
// the same whichever trust asks, so that a run is planned once.
func triageTask(incidentID int64, severity int, trigger string) store.NewTask {
	payload, _ := json.Marshal(triagePayload{Trigger: trigger}) // plain struct, always marshals
	return store.NewTask{
		Kind: taskTriage, Key: fmt.Sprintf("triage:%d:sev%d", incidentID, severity),
		Payload: payload, IncidentID: incidentID,
	}
}

// planTriage decides, inside the ingest transaction, whether a notice makes
// triage run: the first trusted notice of an incident does, whatever came
// before it, and so does a trusted one that reopens or escalates it. A
// target outside the inventory waits for the state task to find it in a
// provider account.
func (pl *planner) planTriage(ch store.IncidentChange) []store.NewTask {
	n := ch.Notice
	if !pl.triage || n.Trust == "" || (ch.PriorTrust != "" && !ch.Reopened && !ch.Escalated) {
		return nil
	}
	ip, err := globalTarget(ch.IP)
	if err != nil || pl.inventory == nil || !pl.inventory(ip) {
		return nil
	}
	return []store.NewTask{triageTask(ch.IncidentID, ch.NewSeverity,
		fmt.Sprintf("%s notice %d: DKIM pass (%s)", n.Kind, ch.NoticeID, n.Trust))}
}

// confirmedNotice returns the first notice of the incident whose block,
// lock or rescue the provider's state shows, nil when none.
func confirmedNotice(notices []store.NoticeRecord, st *providers.State) *store.NoticeRecord {
	for i, n := range notices {
		switch parser.Kind(n.Kind) {
		case parser.KindBlock:
			if st.Blocked || st.Locked || st.Hacked {
				return &notices[i]
			}
		case parser.KindRescue:
			if st.Rescue {
				return &notices[i]
			}
		}
	}
	return nil
}

// trustedNotice returns the incident's first trusted notice, nil when none.
func trustedNotice(notices []store.NoticeRecord) *store.NoticeRecord {
	for i, n := range notices {
		if n.Trust != "" {
			return &notices[i]
		}
	}
	return nil
}

// triageFromState plans the triage that only the state task can allow: a
// trusted notice about an address outside the inventory, now found in a
// provider account, or an untrusted notice whose block, lock or rescue the
// provider's API confirms. The timeline says which trust it was.
func (p *Pipeline) triageFromState(ctx context.Context, inc *store.IncidentDetail, st *providers.State, severity int) error {
	// Once triage ran (by any trust, or an operator), the state task plans
	// no more: a re-check after the findings raised the severity must not
	// run the jobs again.
	if p.triage == nil || len(inc.Runs) > 0 {
		return nil
	}
	ip, err := globalTarget(inc.IP)
	if err != nil {
		return nil // never a target, whatever the provider says
	}
	var trigger string
	if n := trustedNotice(inc.NoticeRecords); n != nil {
		if p.planner.inventory != nil && p.planner.inventory(ip) {
			return nil // planned with the notice
		}
		trigger = fmt.Sprintf("%s notice %d: DKIM pass (%s); %s account holds %s", n.Kind, n.ID, n.Trust, st.Provider, ip)
	} else if n := confirmedNotice(inc.NoticeRecords, st); n != nil {
		trigger = fmt.Sprintf("%s notice %d confirmed by the %s API: %s is %s", n.Kind, n.ID, st.Provider, ip,
			stateSummary(st.Blocked, st.Locked || st.Hacked, st.Rescue))
	} else {
		return nil
	}
	task := triageTask(inc.ID, max(severity, inc.Severity), trigger)
	_, created, err := p.store.Enqueue(ctx, task)
	if err != nil || !created {
		return err
	}
	p.wake()
	return p.store.AddTimeline(ctx, inc.ID, "triage", "triage planned: "+trigger)
}
