package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch/pipeline"
	"github.com/abusewatch/abusewatch/store"
)

// incidentDetailJSON is `incidents show --json`: the list shape plus what was recorded.
type incidentDetail struct {
	incidentJSON
	StateDetail json.RawMessage `json:"state_detail,omitempty"`
	NoticeList  []noticeJSON    `json:"notice_list"`
	Timeline    []timelineJSON  `json:"timeline"`
	Evidence    []evidenceJSON  `json:"evidence"`
	Runs        []triageRunJSON `json:"runs"`
}

type noticeJSON struct {
	ID        int64           `json:"id"`
	Received  time.Time       `json:"received_at"`
	Provider  string          `json:"provider"`
	Kind      string          `json:"kind"`
	Attack    string          `json:"attack"`
	IP        string          `json:"ip"`
	Service   string          `json:"service"`
	Case      string          `json:"case"`
	Deadline  *time.Time      `json:"deadline"`
	Reporter  string          `json:"reporter"`
	Rate      string          `json:"rate"`
	Events    json.RawMessage `json:"events"`
	Authentic string          `json:"authentic"`
	MessageID string          `json:"message_id"`
	Subject   string          `json:"subject"`
	// Trust is who vouches for the notice so that it may trigger host
	// actions; "" and unverified when nobody does.
	Trust      string `json:"trust"`
	Unverified bool   `json:"unverified"`
}

type timelineJSON struct {
	At   time.Time `json:"at"`
	Kind string    `json:"kind"`
	Text string    `json:"text"`
}

type evidenceJSON struct {
	ID        int64     `json:"id"`
	Job       string    `json:"job"`
	Host      string    `json:"host"`
	Where     string    `json:"where"`
	Status    string    `json:"status"`
	Argv      []string  `json:"argv"`
	ExitCode  int       `json:"exit_code"`
	Output    string    `json:"output"`
	Dropped   int64     `json:"dropped_bytes"`
	StartedAt time.Time `json:"started_at"`
	Seconds   float64   `json:"seconds"`
	Findings  []string  `json:"findings"`
	Error     string    `json:"error,omitempty"`
}

func incidentDetailJSON(d *store.IncidentDetail) incidentDetail {
	out := incidentDetail{incidentJSON: toIncidentJSON(d.Incident), NoticeList: []noticeJSON{}, Timeline: []timelineJSON{}, Evidence: []evidenceJSON{}, Runs: []triageRunJSON{}}
	if d.State != nil {
		out.StateDetail = d.State.Detail
	}
	for _, n := range d.NoticeRecords {
		nj := noticeJSON{ID: n.ID, Received: n.ReceivedAt.UTC(), Provider: n.Provider, Kind: n.Kind, Attack: n.Attack, IP: n.IP,
			Service: n.Service, Case: n.Case, Reporter: n.Reporter, Rate: n.Rate, Events: n.Events, Authentic: n.Authentic,
			MessageID: n.Notice.MessageID, Subject: n.Subject, Trust: n.Trust, Unverified: n.Trust == ""}
		if !n.Deadline.IsZero() {
			dl := n.Deadline
			nj.Deadline = &dl
		}
		if len(nj.Events) == 0 {
			nj.Events = json.RawMessage("[]")
		}
		out.NoticeList = append(out.NoticeList, nj)
	}
	for _, v := range pipeline.TriageViews(d) {
		out.Runs = append(out.Runs, toTriageRunJSON(v, false))
	}
	for _, t := range d.Timeline {
		out.Timeline = append(out.Timeline, timelineJSON{At: t.At.UTC(), Kind: t.Kind, Text: t.Text})
	}
	for _, e := range d.Evidence {
		out.Evidence = append(out.Evidence, evidenceJSON{ID: e.ID, Job: e.Job, Host: e.Host, Where: e.Where, Status: e.Status,
			Argv: e.Argv, ExitCode: e.ExitCode, Output: string(e.Output), Dropped: e.Dropped, StartedAt: e.StartedAt.UTC(),
			Seconds: e.Duration.Seconds(), Findings: e.Findings, Error: e.Error})
	}
	return out
}

func printIncident(w io.Writer, d *store.IncidentDetail) error {
	inc := d.Incident
	fmt.Fprintf(w, "Incident %d  %s  %s %s  %s\n", inc.ID, strings.ToUpper(severityLabel(inc.Severity)), line(inc.Provider), line(dash(inc.IP)), inc.Status)
	fmt.Fprintf(w, "  attack %s, %d notice(s), first %s, last %s\n", line(inc.Attack), inc.Notices,
		inc.FirstSeen.Local().Format(time.DateTime), inc.LastSeen.Local().Format(time.DateTime))
	if inc.Case != "" || inc.Service != "" {
		fmt.Fprintf(w, "  case %s, service %s\n", line(dash(inc.Case)), line(dash(inc.Service)))
	}
	if inc.Unverified {
		fmt.Fprintln(w, "  UNVERIFIED: no notice is vouched for by a trusted DKIM signature; nothing ran on the server because of a notice")
	}
	if s := inc.State; s != nil {
		fmt.Fprintf(w, "  provider state (%s): %s, checked %s\n", line(s.Provider), stateWords(s.Blocked, s.Locked, s.Rescue), s.CheckedAt.Local().Format(time.DateTime))
	}
	fmt.Fprintln(w, "\nNotices:")
	for _, n := range d.NoticeRecords {
		l := fmt.Sprintf("  #%d %s %s/%s dkim %s", n.ID, n.ReceivedAt.Local().Format(time.DateTime), line(n.Kind), line(n.Attack), line(n.Authentic))
		if n.Trust == "" {
			l += " (unverified)"
		} else {
			l += " trusted " + line(n.Trust)
		}
		if !n.Deadline.IsZero() {
			l += " deadline " + n.Deadline.Local().Format(time.DateTime)
		}
		fmt.Fprintln(w, l+"  "+line(n.Subject))
	}
	if views := pipeline.TriageViews(d); len(views) > 0 {
		fmt.Fprintln(w, "\nTriage runs:")
		for i, v := range views {
			fmt.Fprintf(w, "  run %d %s: %s (%s)\n", i+1, v.StartedAt.Local().Format(time.DateTime), v.Summary(), line(dash(v.Trigger)))
			for _, j := range v.Jobs {
				for _, f := range j.Findings {
					fmt.Fprintf(w, "      %s: %s\n", line(j.Job), line(f))
				}
			}
			for _, s := range v.Suspects {
				fmt.Fprintf(w, "      suspect #%d %s %s\n", s.Rank, s.Kind, line(suspectWhere(s)))
			}
		}
	}
	fmt.Fprintln(w, "\nTimeline:")
	for _, t := range d.Timeline {
		fmt.Fprintf(w, "  %s  %-10s %s\n", t.At.Local().Format(time.DateTime), line(t.Kind), line(t.Text))
	}
	if len(d.Evidence) > 0 {
		fmt.Fprintln(w, "\nEvidence:")
		for _, e := range d.Evidence {
			fmt.Fprintf(w, "  #%d %s on %s: %s (exit %d, %d bytes kept, %d dropped)\n", e.ID, line(e.Job), line(dash(e.Host)), line(e.Status), e.ExitCode, len(e.Output), e.Dropped)
			if e.Error != "" {
				fmt.Fprintf(w, "      error: %s\n", line(e.Error))
			}
			for _, f := range e.Findings {
				fmt.Fprintf(w, "      finding: %s\n", line(f))
			}
		}
	}
	return nil
}
