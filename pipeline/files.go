package pipeline

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/abusewatch/abusewatch/store"
)

// MailFile is one message read from disk: an .eml file, a Maildir entry, or
// one message of an mbox file (Path is then "file.mbox#N").
type MailFile struct {
	Path string
	// Raw is the message, up to the parse limit; nil when it is larger and
	// Body streams it instead (valid only during the callback).
	Raw  []byte
	Body io.Reader
}

// ListMail expands paths into the mail files they hold, without reading
// them: a directory with cur/ or new/ is a Maildir, another directory is
// walked for *.eml files, and a file starting with an mbox "From " line is
// an mbox. The count lets the CLI show progress.
func ListMail(paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		if p == "-" {
			files = append(files, p)
			continue
		}
		info, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			files = append(files, p)
			continue
		}
		found, err := listDir(p)
		if err != nil {
			return nil, err
		}
		files = append(files, found...)
	}
	return files, nil
}

func listDir(dir string) ([]string, error) {
	if isMaildirFolder(dir) {
		return listMaildirFolder(dir)
	}
	var files []string
	if isMaildir(dir) {
		for _, sub := range []string{"new", "cur"} {
			entries, err := os.ReadDir(filepath.Join(dir, sub))
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
			for _, e := range entries {
				if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
					files = append(files, filepath.Join(dir, sub, e.Name()))
				}
			}
		}
		return files, nil
	}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != dir && isMaildir(path) {
			sub, err := listDir(path)
			files = append(files, sub...)
			if err != nil {
				return err
			}
			return filepath.SkipDir
		}
		if d.Type().IsRegular() && (strings.HasSuffix(path, ".eml") || strings.HasSuffix(path, ".mbox")) {
			files = append(files, path)
		}
		return nil
	})
	sort.Strings(files)
	return files, err
}

// isMaildirFolder reports whether dir is the cur/ or new/ folder of a
// Maildir, given on its own (`ingest Maildir/cur`): its files are mail,
// whatever their names.
func isMaildirFolder(dir string) bool {
	base := filepath.Base(filepath.Clean(dir))
	return (base == "cur" || base == "new") && isMaildir(filepath.Dir(filepath.Clean(dir)))
}

func listMaildirFolder(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			files = append(files, filepath.Join(dir, e.Name()))
		}
	}
	return files, nil
}

func isMaildir(dir string) bool {
	for _, sub := range []string{"cur", "new"} {
		if info, err := os.Stat(filepath.Join(dir, sub)); err == nil && info.IsDir() {
			return true
		}
	}
	return false
}

// ReadMail reads one listed file ("-" for stdin) and calls fn for each
// message in it: one for a mail file, one per message for an mbox. A message
// up to limit bytes comes in Raw; a larger one streams in Body, whole, so
// that it is kept without being held in memory.
func ReadMail(path string, stdin io.Reader, limit int64, fn func(MailFile) error) error {
	var r io.Reader = stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	br := bufio.NewReaderSize(r, 64<<10)
	if looksLikeMbox(br) {
		return readMbox(path, br, limit, fn)
	}
	raw, err := io.ReadAll(io.LimitReader(br, limit+1))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(raw)) > limit {
		// What was read goes first; the rest streams from the file.
		return fn(MailFile{Path: path, Body: io.MultiReader(bytes.NewReader(raw), br)})
	}
	return fn(MailFile{Path: path, Raw: raw})
}

// looksLikeMbox reports whether the input starts, after any blank lines,
// with an mbox separator line.
func looksLikeMbox(br *bufio.Reader) bool {
	head, _ := br.Peek(4 << 10)
	head = bytes.TrimLeft(head, "\r\n")
	first, _, _ := bytes.Cut(head, []byte("\n"))
	return isMboxSeparator(first)
}

// mboxSeparator is the shape of an mbox "From " line: the envelope sender
// (or "-"), then an asctime date, "From abuse@ovh.net Mon Jul 14 22:15:40
// 2025", with an optional zone before the year. A body line such as "From
// the logs we saw…" does not have it.
var mboxSeparator = regexp.MustCompile(`^From \S+ +[A-Z][a-z]{2} +[A-Z][a-z]{2} +\d{1,2} +\d{1,2}:\d{2}(:\d{2})? +(\S+ +)?\d{4}\s*$`)

func isMboxSeparator(line []byte) bool {
	return bytes.HasPrefix(line, []byte("From ")) && mboxSeparator.Match(line)
}

// readMbox splits an mboxrd/mboxo file at its separator lines — a "From "
// line of the separator's shape at the start or after a blank line, so
// that an unquoted "From the logs…" in a body does not split a message —
// and undoes the ">From " quoting of body lines.
func readMbox(path string, br *bufio.Reader, limit int64, fn func(MailFile) error) error {
	var msg bytes.Buffer
	var spill *os.File
	defer func() {
		if spill != nil {
			spill.Close()
			os.Remove(spill.Name())
		}
	}()
	var sink io.Writer = &msg
	n := 0
	afterBlank := true // the start of the file counts as one
	flush := func() error {
		if n == 0 {
			return nil
		}
		name := fmt.Sprintf("%s#%d", path, n)
		if spill == nil {
			raw := bytes.Clone(msg.Bytes())
			msg.Reset()
			return fn(MailFile{Path: name, Raw: raw})
		}
		f := spill
		spill, sink = nil, &msg
		defer func() { f.Close(); os.Remove(f.Name()) }()
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return fn(MailFile{Path: name, Body: bufio.NewReaderSize(f, 64<<10)})
	}
	write := func(line []byte) error {
		if _, err := sink.Write(line); err != nil {
			return err
		}
		if spill != nil || int64(msg.Len()) <= limit {
			return nil
		}
		f, err := os.CreateTemp("", "abusewatch-mbox-*")
		if err != nil {
			return err
		}
		spill, sink = f, f
		_, err = f.Write(msg.Bytes())
		msg.Reset()
		return err
	}
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// An overlong line: keep it whole.
			rest, rerr := br.ReadBytes('\n')
			line, err = append(bytes.Clone(line), rest...), rerr
		}
		if len(line) > 0 {
			blank := len(bytes.TrimRight(line, "\r\n")) == 0
			if afterBlank && isMboxSeparator(bytes.TrimRight(line, "\r\n")) {
				if ferr := flush(); ferr != nil {
					return ferr
				}
				n++
			} else if n > 0 {
				if unquoted, ok := bytes.CutPrefix(line, []byte(">")); ok && bytes.HasPrefix(bytes.TrimLeft(unquoted, ">"), []byte("From ")) {
					line = unquoted
				}
				if werr := write(line); werr != nil {
					return fmt.Errorf("%s: %w", path, werr)
				}
			}
			afterBlank = blank
		}
		if errors.Is(err, io.EOF) {
			return flush()
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
}

// FileResult is what one mail read from disk gave: its stored result, or
// Err when it could not be stored. A file that could not be read gives one
// FileResult with ReadErr.
type FileResult struct {
	File    int // its file's index in the list given to IngestFiles
	Path    string
	Result  store.IngestResult
	Err     error
	ReadErr error
}

// Batches of mails read from disk: at most fileBatchMails mails or
// fileBatchBytes bytes share a transaction, so that a backlog costs one
// commit per batch while memory stays bounded.
const (
	fileBatchMails = 64
	fileBatchBytes = 16 << 20
)

// fileStep is one step of IngestFiles, in the order of the files: a parsed
// batch, a mail too large for one (ingested while its reader waits on
// done), or a file that could not be read.
type fileStep struct {
	items   []store.IngestItem
	files   []int // each item's file
	large   *MailFile
	done    chan struct{}
	file    int
	readErr error
}

// IngestFiles reads the listed files (see ReadMail) and ingests their mails
// in batches of one transaction each, calling each for every mail in
// order, and for every file that could not be read. Reading and parsing the
// next batch go on while one is stored. A mail above limit is streamed and
// ingested on its own (IngestLarge). It stops early only when ctx ends.
func (p *Pipeline) IngestFiles(ctx context.Context, files []string, stdin io.Reader, limit int64, each func(FileResult)) error {
	steps := make(chan fileStep, 1)
	go p.readFiles(ctx, files, stdin, limit, steps)
	for st := range steps {
		switch {
		case st.large != nil:
			res, err := p.IngestFile(ctx, *st.large)
			close(st.done)
			each(FileResult{File: st.file, Path: st.large.Path, Result: res, Err: err})
		case st.readErr != nil:
			each(FileResult{File: st.file, Path: files[st.file], ReadErr: st.readErr})
		default:
			res, errs := p.storeBatch(ctx, st.items)
			for i, it := range st.items {
				each(FileResult{File: st.files[i], Path: it.Msg.Source.Path, Result: res[i], Err: errs[i]})
			}
		}
	}
	return ctx.Err()
}

// readFiles is IngestFiles' reader: it sends the steps of files to steps,
// in order, and closes it at the end or once ctx ends.
func (p *Pipeline) readFiles(ctx context.Context, files []string, stdin io.Reader, limit int64, steps chan<- fileStep) {
	defer close(steps)
	send := func(st fileStep) error {
		select {
		case steps <- st:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var batch []store.Message
	var index []int
	size := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		st := fileStep{items: p.parseBatch(batch), files: index}
		batch, index, size = nil, nil, 0
		return send(st)
	}
	for i, path := range files {
		err := ReadMail(path, stdin, limit, func(f MailFile) error {
			if f.Body == nil {
				batch = append(batch, store.Message{Source: store.Source{Path: f.Path}, Raw: f.Raw, Size: int64(len(f.Raw))})
				index = append(index, i)
				if size += len(f.Raw); len(batch) >= fileBatchMails || size >= fileBatchBytes {
					return flush()
				}
				return ctx.Err()
			}
			// f.Body is valid only until this returns.
			if err := flush(); err != nil {
				return err
			}
			done := make(chan struct{})
			if err := send(fileStep{large: &f, done: done, file: i}); err != nil {
				return err
			}
			<-done
			return ctx.Err()
		})
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			if flush() != nil || send(fileStep{file: i, readErr: err}) != nil {
				return
			}
		}
	}
	flush()
}
