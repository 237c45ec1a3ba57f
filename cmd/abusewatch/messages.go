package main

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/abusewatch/abusewatch/store"
)

func newMessagesCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "messages",
		Short: "List and show every stored mail, with its status and reason",
	}
	cmd.AddCommand(newMessagesListCmd(a), newMessagesShowCmd(a))
	return cmd
}

// messageJSON is the public shape of `messages list --json` (DESIGN.md).
type messageJSON struct {
	ID         int64      `json:"id"`
	Mailbox    string     `json:"mailbox"`
	UID        uint32     `json:"uid"`
	ReceivedAt time.Time  `json:"received_at"`
	Date       *time.Time `json:"date"`
	From       string     `json:"from"`
	Subject    string     `json:"subject"`
	Size       int64      `json:"size"`
	Status     string     `json:"status"`
	Reason     string     `json:"reason"`
	Authentic  string     `json:"authentic"`
	Notices    int        `json:"notices"`
	// Added fields (the contract grows, never renames).
	Path string `json:"path"`
	Kept bool   `json:"kept"`
}

func toMessageJSON(m store.MessageRecord) messageJSON {
	out := messageJSON{
		ID: m.ID, Mailbox: m.Mailbox, UID: m.UID, ReceivedAt: m.ReceivedAt.UTC(), From: m.From, Subject: m.Subject,
		Size: m.Size, Status: m.Status, Reason: m.Reason, Authentic: m.Authentic, Notices: m.Notices, Path: m.Path, Kept: m.Kept,
	}
	if !m.Date.IsZero() {
		d := m.Date.UTC()
		out.Date = &d
	}
	return out
}

func newMessagesListCmd(a *app) *cobra.Command {
	var asJSON bool
	var status string
	cmd := &cobra.Command{
		Use:   "list [--status ok|none|error|oversize|unrecognised] [--json]",
		Short: "List stored mail",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withPipeline(cmd.Context(), func(env *env) error {
				msgs, err := env.store.Messages(cmd.Context(), status)
				if err != nil {
					return err
				}
				return writeList(a.stdout, asJSON, msgs, toMessageJSON, printMessages)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	cmd.Flags().StringVar(&status, "status", "", "only mail of this status")
	return cmd
}

func printMessages(w io.Writer, msgs []store.MessageRecord) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tRECEIVED\tSOURCE\tSIZE\tNOTICES\tFROM\tSUBJECT\tREASON")
	for _, m := range msgs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\n", m.ID, m.Status, m.ReceivedAt.Local().Format("2006-01-02 15:04"),
			line(source(m)), m.Size, m.Notices, line(dash(m.From)), line(clip(m.Subject, 60)), line(dash(m.Reason)))
	}
	if len(msgs) == 0 {
		fmt.Fprintln(tw, "(no messages)")
	}
	return tw.Flush()
}

func source(m store.MessageRecord) string {
	if m.Mailbox != "" {
		return m.Mailbox + " uid " + strconv.FormatUint(uint64(m.UID), 10)
	}
	return dash(m.Path)
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func newMessagesShowCmd(a *app) *cobra.Command {
	var raw bool
	cmd := &cobra.Command{
		Use:   "show ID [--raw]",
		Short: "Show one stored mail; --raw writes its stored bytes exactly",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return fmt.Errorf("message id %q is not a number", args[0])
			}
			return a.withPipeline(cmd.Context(), func(env *env) error {
				if raw {
					r, err := env.store.OpenRaw(cmd.Context(), id)
					if err != nil {
						return err
					}
					defer r.Close()
					_, err = io.Copy(a.stdout, r)
					return err
				}
				m, err := env.store.MessageByID(cmd.Context(), id)
				if err != nil {
					return err
				}
				return printMessage(a.stdout, m)
			})
		},
	}
	cmd.Flags().BoolVar(&raw, "raw", false, "write the stored bytes exactly, nothing else")
	return cmd
}

func printMessage(w io.Writer, m *store.MessageRecord) error {
	src := source(*m)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	date := "-"
	if !m.Date.IsZero() {
		date = m.Date.Local().Format(time.RFC1123Z)
	}
	kept := "yes"
	if !m.Kept {
		kept = "no"
	}
	for _, f := range [][2]string{
		{"id", strconv.FormatInt(m.ID, 10)},
		{"source", src},
		{"received", m.ReceivedAt.Local().Format(time.RFC1123Z)},
		{"date", date},
		{"from", dash(m.From)},
		{"subject", dash(m.Subject)},
		{"message-id", dash(m.MessageID)},
		{"size", strconv.FormatInt(m.Size, 10) + " bytes"},
		{"kept", kept},
		{"status", m.Status},
		{"reason", dash(m.Reason)},
		{"authentic", dash(m.Authentic)},
		{"notices", strconv.Itoa(m.Notices)},
	} {
		fmt.Fprintf(tw, "%s:\t%s\n", f[0], line(f[1]))
	}
	return tw.Flush()
}
