package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/pipeline"
	"github.com/abusewatch/abusewatch/store"
)

// env is what the commands that touch the store share.
type env struct {
	cfg      *config.Config
	store    *store.Store
	pipeline *pipeline.Pipeline
	close    func() error
}

func (e *env) Close() error { return e.close() }

// openPipeline opens the store and wires the pipeline from the configuration.
func (a *app) openPipeline(ctx context.Context) (*env, error) {
	cfg, err := a.requireConfig()
	if err != nil {
		return nil, err
	}
	built, err := pipeline.FromConfig(ctx, cfg, a.logger())
	if err != nil {
		return nil, err
	}
	return &env{cfg: cfg, store: built.Store, pipeline: built.Pipeline, close: built.Close}, nil
}

// withBuilt runs f with the store open and every configured part wired,
// and closes the store after.
func (a *app) withBuilt(ctx context.Context, f func(*pipeline.Built) error) error {
	cfg, err := a.requireConfig()
	if err != nil {
		return err
	}
	built, err := pipeline.FromConfig(ctx, cfg, a.logger())
	if err != nil {
		return err
	}
	defer built.Close()
	return f(built)
}

// withPipeline runs f with the store open and the pipeline wired, and
// closes the store after.
func (a *app) withPipeline(ctx context.Context, f func(*env) error) error {
	e, err := a.openPipeline(ctx)
	if err != nil {
		return err
	}
	defer e.Close()
	return f(e)
}

// withStore runs f with the store open, for the commands that only read it
// (and mark incidents resolved): they need no secret and wire nothing.
func (a *app) withStore(ctx context.Context, f func(*store.Store) error) error {
	cfg, err := a.readConfig()
	if err != nil {
		return err
	}
	if _, err := os.Stat(cfg.Store.Path); !cfg.Store.IsPostgres() && errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no store at %s (store.path of %s): nothing was ingested there yet", cfg.Store.Path, cfg.Path)
	}
	st, err := pipeline.OpenStore(ctx, cfg.Store)
	if err != nil {
		return err
	}
	defer st.Close()
	return f(st)
}

// writeList prints items as a JSON array of their public shape, or as the
// table print makes of them.
func writeList[T, J any](w io.Writer, asJSON bool, items []T, shape func(T) J, print func(io.Writer, []T) error) error {
	if !asJSON {
		return print(w, items)
	}
	out := make([]J, 0, len(items))
	for _, it := range items {
		out = append(out, shape(it))
	}
	return writeJSON(w, out)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
