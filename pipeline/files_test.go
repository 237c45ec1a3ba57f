package pipeline

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// readMboxFile writes mbox to a file and reads its messages.
func readMboxFile(t *testing.T, mbox string) (string, []MailFile) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "abuse.mbox")
	if err := os.WriteFile(path, []byte(mbox), 0o600); err != nil {
		t.Fatal(err)
	}
	var got []MailFile
	if err := ReadMail(path, nil, 1<<20, func(m MailFile) error { got = append(got, m); return nil }); err != nil {
		t.Fatal(err)
	}
	return path, got
}

func TestReadMbox(t *testing.T) {
	mbox := "From abuse@ovh.net Mon Jul 14 22:15:40 2025\n" +
		"From: abuse@ovh.net\nSubject: one\n\nbody one\n>From the quoted line\n\n" +
		"From network-abuse@hetzner.com Tue Aug  7 09:30:21 2018\n" +
		"From: network-abuse@hetzner.com\nSubject: two\n\nbody two\n"
	path, got := readMboxFile(t, mbox)
	if len(got) != 2 {
		t.Fatalf("read %d messages, want 2", len(got))
	}
	if got[0].Path != path+"#1" || got[1].Path != path+"#2" {
		t.Errorf("paths %q %q", got[0].Path, got[1].Path)
	}
	if !strings.Contains(string(got[0].Raw), "\nFrom the quoted line\n") || strings.Contains(string(got[0].Raw), "From abuse@ovh.net Mon") {
		t.Errorf("first message not unquoted or still has its separator:\n%s", got[0].Raw)
	}
	if !strings.HasPrefix(string(got[1].Raw), "From: network-abuse@hetzner.com") {
		t.Errorf("second message:\n%s", got[1].Raw)
	}
}

func TestListMailMaildirAndEml(t *testing.T) {
	root := t.TempDir()
	maildir := filepath.Join(root, "Maildir")
	for _, f := range []string{"cur/1:2,S", "new/2", "tmp/3", "cur/.hidden"} {
		p := filepath.Join(maildir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("From: a@b\n\nx\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	eml := filepath.Join(root, "notes", "one.eml")
	if err := os.MkdirAll(filepath.Dir(eml), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(eml, []byte("From: a@b\n\nx\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "notes", "readme.txt"), []byte("not mail"), 0o600); err != nil {
		t.Fatal(err)
	}
	files, err := ListMail([]string{root})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(maildir, "cur", "1:2,S"), filepath.Join(maildir, "new", "2"), eml}
	if strings.Join(files, "\n") != strings.Join(want, "\n") {
		t.Errorf("ListMail = %v\nwant %v (tmp/, dot files and non-mail skipped, sorted)", files, want)
	}
}

// TestReadMailOverLimitStreamsWhole: a mail over the limit is not cut: it
// streams whole, in order, so that it is kept as it is.
func TestReadMailOverLimitStreamsWhole(t *testing.T) {
	raw := []byte("From: a@b\n\n" + strings.Repeat("x", 5000))
	path := filepath.Join(t.TempDir(), "big.eml")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		limit int64
		big   bool
	}{{"over the limit", 1000, true}, {"at the limit", int64(len(raw)), false}} {
		t.Run(tt.name, func(t *testing.T) {
			var got []byte
			err := ReadMail(path, nil, tt.limit, func(m MailFile) error {
				if (m.Body != nil) != tt.big || (m.Raw == nil) != tt.big {
					t.Errorf("Raw %d bytes, Body %v; want the mail streamed: %v", len(m.Raw), m.Body != nil, tt.big)
				}
				got = m.Raw
				if m.Body != nil {
					var err error
					got, err = io.ReadAll(m.Body)
					return err
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, raw) {
				t.Errorf("read %d bytes, want the %d of the mail exactly", len(got), len(raw))
			}
		})
	}
}

// An mbox may start with blank lines, and a body line starting "From " that
// is not a separator (no blank line before it, or not the separator's
// shape) does not split its message.
func TestReadMboxSeparators(t *testing.T) {
	mbox := "\n\nFrom abuse@ovh.net Mon Jul 14 22:15:40 2025\n" +
		"From: abuse@ovh.net\nSubject: one\n\nWe saw the attack.\nFrom the logs of 10:22 in 2025 it started at night.\n\n" +
		"From the logs again, after a blank line.\n\n" +
		"From - Tue Aug  7 09:30:21 +0200 2018\n" +
		"From: network-abuse@hetzner.com\nSubject: two\n\nbody two\n"
	_, got := readMboxFile(t, mbox)
	if len(got) != 2 {
		for _, m := range got {
			t.Logf("%s:\n%s", m.Path, m.Raw)
		}
		t.Fatalf("read %d messages, want 2", len(got))
	}
	one := string(got[0].Raw)
	if !strings.HasPrefix(one, "From: abuse@ovh.net\n") || !strings.Contains(one, "\nFrom the logs of 10:22") || !strings.Contains(one, "\nFrom the logs again") {
		t.Errorf("first message lost its body lines or kept the blank lines before the separator:\n%s", one)
	}
	if !strings.HasPrefix(string(got[1].Raw), "From: network-abuse@hetzner.com") {
		t.Errorf("second message:\n%s", got[1].Raw)
	}
}

// `ingest Maildir/cur` reads that folder's mail.
func TestListMailMaildirSubfolder(t *testing.T) {
	maildir := filepath.Join(t.TempDir(), "Maildir")
	for _, f := range []string{"cur/1:2,S", "cur/2:2,", "new/3", "cur/.hidden"} {
		p := filepath.Join(maildir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("From: a@b\n\nx\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	files, err := ListMail([]string{filepath.Join(maildir, "cur")})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(maildir, "cur", "1:2,S"), filepath.Join(maildir, "cur", "2:2,")}
	if strings.Join(files, "\n") != strings.Join(want, "\n") {
		t.Errorf("ListMail(Maildir/cur) = %v, want %v", files, want)
	}
}
