package main

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/pipeline"
)

// exampleConfig is what `config example` prints; a test keeps it passing `config check`.
//
//go:embed example.yaml
var exampleConfig string

func newConfigCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Check the configuration file or print an example",
	}
	cmd.AddCommand(newConfigCheckCmd(a), &cobra.Command{
		Use:   "example",
		Short: "Print a commented example configuration",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := io.WriteString(a.stdout, exampleConfig)
			return err
		},
	})
	return cmd
}

func newConfigCheckCmd(a *app) *cobra.Command {
	var online bool
	cmd := &cobra.Command{
		Use:   "check [FILE] [--online]",
		Short: "Validate the configuration strictly: keys, values, secrets, chat URLs, inventory",
		Long: `check loads the file as the daemon would (FILE, else --config, else the
search path) and runs the checks watch runs at start: every secret resolved
(never printed), the chat channels built and their templates executed on a
sample event, the provider clients and the triage inventory built, the key,
known_hosts and token files opened, the store's directory found writable.
Every problem is listed at once, each with its key and line. No network
request is made, unless --online: then, once the file checks, one
authenticated call per mailbox (log in, open the folder, log out) and per
provider API says which credentials work; a refused one is not tried again
(Robot locks a client out after three failed logins). Warnings (a secret in
clear in a file others can read) go to stderr. The exit status is non-zero
when anything is wrong.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := a.configPath
			if len(args) == 1 {
				path = args[0]
			}
			if path = config.Find(path); path == "" {
				return errors.New("no config file: pass FILE or --config, set $ABUSEWATCH_CONFIG or create ./abusewatch.yaml")
			}
			cfg, summary, warnings, err := checkConfig(cmd.Context(), path, a.logger())
			for _, w := range warnings {
				fmt.Fprintf(a.stderr, "warning: %s\n", w)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s: ok\n%s", path, summary)
			if !online {
				return nil
			}
			return printOnline(a.stdout, pipeline.CheckOnline(cmd.Context(), cfg, a.logger()))
		},
	}
	cmd.Flags().BoolVar(&online, "online", false, "also make one authenticated call per mailbox and provider API")
	return cmd
}

// printOnline lists what each set of credentials said, and fails when any
// was refused or could not be tried.
func printOnline(w io.Writer, results []pipeline.OnlineResult) error {
	fmt.Fprintln(w, "online:")
	failed := 0
	for _, r := range results {
		if r.Err != nil {
			failed++
			fmt.Fprintf(w, "  %-24s FAILED: %v\n", r.What, r.Err)
			continue
		}
		fmt.Fprintf(w, "  %-24s ok\n", r.What)
	}
	if len(results) == 0 {
		fmt.Fprintln(w, "  (no mailbox or provider configured)")
	}
	if failed > 0 {
		return fmt.Errorf("config check --online: %d of %d credential checks failed", failed, len(results))
	}
	return nil
}

// checkConfig loads the file at path, checks it as the daemon does at start
// (pipeline.Check), and returns every problem at once, each with its key and
// line. On success it returns a summary free of secrets and the warnings.
func checkConfig(ctx context.Context, path string, log *slog.Logger) (cfg *config.Config, summary string, warnings []string, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, "", nil, fmt.Errorf("config: %w", err)
	}
	cfg, perr := config.ParseAll(data)
	if cfg == nil {
		return nil, "", nil, fmt.Errorf("%s: %s", path, withLines(data, perr))
	}
	cfg.Path = path
	warnings, cerr := pipeline.Check(ctx, cfg, log)
	for i, w := range warnings {
		warnings[i] = withLines(data, errors.New(w))
	}
	if err := errors.Join(perr, cerr); err != nil {
		return nil, "", warnings, fmt.Errorf("%s: %s", path, withLines(data, err))
	}
	var b strings.Builder
	if cfg.Store.IsPostgres() {
		// The DSN may hold a password: only its source is named.
		fmt.Fprintf(&b, "  store      postgres (dsn from %s), large mail in %s\n", dsnSource(cfg.Store), filepath.Dir(cfg.Store.Path))
	} else {
		fmt.Fprintf(&b, "  store      %s\n", cfg.Store.Path)
	}
	for _, m := range cfg.Mailboxes {
		fmt.Fprintf(&b, "  mailbox    %s: %s:%d (%s) as %s, folder %s, after %s\n", m.Name, m.Host, m.Port, m.TLS, m.Username, m.Folder, m.After)
	}
	if o := cfg.Providers.OVH; o != nil {
		fmt.Fprintf(&b, "  provider   ovh (%s)\n", o.Endpoint)
	}
	if h := cfg.Providers.Hetzner; h != nil {
		var apis []string
		if h.RobotUser != "" {
			apis = append(apis, "robot")
		}
		if h.CloudToken != "" {
			apis = append(apis, "cloud")
		}
		fmt.Fprintf(&b, "  provider   hetzner (%s)\n", strings.Join(apis, ", "))
	}
	fmt.Fprintf(&b, "  notify     %d channel(s)\n", len(cfg.Notify))
	fmt.Fprintf(&b, "  triage     %d job(s), kit %s; inventory %d host(s)\n", len(cfg.Triage.Jobs), yesNo(cfg.Triage.Kit), len(cfg.Inventory))
	fmt.Fprintf(&b, "  http       %s\n", cfg.HTTP.Listen)
	return cfg, b.String(), warnings, nil
}

// segmentRE matches one step of the key paths that validation errors start
// with: "mailboxes[0] (abuse)", "notify[1] generic://…", "mailboxes[abuse]",
// "providers.ovh.consumer_key", "tls".
var segmentRE = regexp.MustCompile(`^([a-z_]+(?:\.[a-z_]+)*)(?:\[([^\]]+)\](?: .*)?)?$`)

// withLines prefixes each line of err that names a key with the line of that
// key in data. YAML decoding errors carry their line already. A line that
// continues the errors of the item above it ("after: …" under
// "mailboxes[0] (abuse): tls: …") is given that item's path.
func withLines(data []byte, err error) string {
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil || len(root.Content) == 0 {
		return err.Error()
	}
	lines := strings.Split(err.Error(), "\n")
	var item string // the path of the item the previous line was about
	for i, msg := range lines {
		if strings.HasPrefix(msg, "yaml: ") || strings.HasPrefix(msg, "  line ") {
			continue
		}
		n, depth := locate(root.Content[0], msg)
		if n == 0 && item != "" {
			if n, depth = locate(root.Content[0], item+": "+msg); n > 0 {
				msg = item + ": " + msg
			}
		}
		if n == 0 {
			item = ""
			continue
		}
		lines[i] = fmt.Sprintf("line %d: %s", n, msg)
		if segs := strings.Split(msg, ": "); depth > 1 {
			item = strings.Join(segs[:depth-1], ": ")
		} else {
			item = ""
		}
	}
	return strings.Join(lines, "\n")
}

// locate follows the key path at the start of msg as far as the document
// has it, and returns the line of the deepest node found (0 if none) and
// how many ": "-separated segments of msg led there.
func locate(node *yaml.Node, msg string) (line, depth int) {
	for seg := range strings.SplitSeq(msg, ": ") {
		m := segmentRE.FindStringSubmatch(seg)
		if m == nil {
			break
		}
		found := true
		for key := range strings.SplitSeq(m[1], ".") {
			var n *yaml.Node
			// A secret's error names the value; the file may hold its _env or _file key.
			for _, k := range []string{key, key + "_env", key + "_file"} {
				if n = mapValue(node, k); n != nil {
					break
				}
			}
			if n == nil {
				found = false
				break
			}
			line, node = n.Line, n
		}
		if !found {
			break
		}
		if m[2] != "" {
			item := seqItem(node, m[2])
			if item == nil {
				break
			}
			line, node = item.Line, item
		}
		depth++
	}
	return line, depth
}

func mapValue(node *yaml.Node, key string) *yaml.Node {
	if node.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(node.Content); i += 2 {
		if node.Content[i].Value == key {
			return node.Content[i+1]
		}
	}
	return nil
}

// seqItem returns the item of a sequence by index, or by its name field.
func seqItem(node *yaml.Node, ref string) *yaml.Node {
	if node.Kind != yaml.SequenceNode {
		return nil
	}
	if i, err := strconv.Atoi(ref); err == nil {
		if i >= 0 && i < len(node.Content) {
			return node.Content[i]
		}
		return nil
	}
	for _, item := range node.Content {
		if name := mapValue(item, "name"); name != nil && name.Value == ref {
			return item
		}
	}
	return nil
}

// dsnSource names where the store's DSN comes from, for config check.
func dsnSource(s config.Store) string {
	switch {
	case s.DSNEnv != "":
		return "$" + s.DSNEnv
	case s.DSNFile != "":
		return s.DSNFile
	}
	return "the config file"
}
