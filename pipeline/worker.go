package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/abusewatch/abusewatch/internal/errkind"
)

// idlePoll bounds how long an idle worker sleeps without looking at the queue:
// other processes (the CLI, a second daemon) may enqueue tasks too.
const idlePoll = 5 * time.Second

func (p *Pipeline) kinds() []string {
	kinds := make([]string, 0, len(p.handlers))
	for k := range p.handlers {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	return kinds
}

// runWorkers runs n task workers until ctx is done, then releases their leases.
func (p *Pipeline) runWorkers(ctx context.Context, n int) error {
	p.reportUnknownTasks(ctx)
	var wg sync.WaitGroup
	for i := range n {
		owner := workerName(i)
		wg.Go(func() {
			p.work(ctx, owner)
			// ctx is done: release with a fresh context so that another
			// process can take the tasks over at once instead of waiting
			// for the leases to expire.
			release, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := p.store.ReleaseLeases(release, owner); err != nil {
				p.log.Warn("releasing leases", "worker", owner, "err", err)
			}
		})
	}
	wg.Wait()
	return nil
}

func workerName(i int) string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d/w%d", host, os.Getpid(), i)
}

func (p *Pipeline) work(ctx context.Context, owner string) {
	for ctx.Err() == nil {
		ran, err := p.runOne(ctx, owner)
		if err != nil {
			p.log.Error("task queue", "err", err)
		}
		if ran {
			continue
		}
		p.sleep(ctx)
	}
}

// sleep waits until the next task is due, a wake-up, or idlePoll.
func (p *Pipeline) sleep(ctx context.Context) {
	wait := idlePoll
	if next, ok, err := p.store.NextDue(ctx, p.kinds()); err == nil && ok {
		if d := next.Sub(p.now()); d < wait {
			wait = max(d, 10*time.Millisecond)
		}
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-p.wakeCh:
	case <-t.C:
	}
}

// Drain runs due tasks until none is left, for `watch --once` and the CLI.
// Tasks due later (digests, deadline reminders) stay queued for the daemon.
func (p *Pipeline) Drain(ctx context.Context) error {
	owner := workerName(0) + "-drain"
	for {
		ran, err := p.runOne(ctx, owner)
		if err != nil {
			return err
		}
		if !ran {
			return p.store.ReleaseLeases(ctx, owner)
		}
	}
}

// runOne claims and runs one due task. It reports whether there was one.
func (p *Pipeline) runOne(ctx context.Context, owner string) (bool, error) {
	t, err := p.store.Claim(ctx, owner, p.kinds(), p.lease, p.now())
	if err != nil || t == nil {
		return false, err
	}
	log := p.log.With("task", t.ID, "kind", t.Kind, "incident", t.IncidentID, "attempt", t.Attempts+1)
	herr := p.handlers[t.Kind](ctx, t)
	// The one retry rule of every task kind: errors are classified where
	// they arise (errkind), unclassified ones are the network's.
	retry, wait := errkind.Retry(herr)
	switch {
	case herr == nil:
		err = p.store.Complete(ctx, t.ID, owner)
	case ctx.Err() != nil:
		// Shutting down mid-task: the lease is released and the task runs again.
		return true, nil
	case !retry || t.Attempts+1 >= p.attempts:
		log.Error("task failed for good", "err", herr)
		err = p.store.Fail(ctx, t.ID, owner, herr.Error())
	default:
		// The backoff counts from the wait the server asked for, if any.
		var next time.Time
		// A send that got no answer may have arrived all the same.
		unanswered := errors.Is(herr, context.DeadlineExceeded)
		next, err = p.store.Retry(ctx, t.ID, owner, herr.Error(), unanswered, p.now().Add(wait))
		log.Warn("task failed, will retry", "err", herr, "next", next)
	}
	return true, err
}

func (p *Pipeline) reportUnknownTasks(ctx context.Context) {
	unknown, err := p.store.UnknownTasks(ctx, p.kinds())
	if err != nil {
		p.log.Warn("counting unknown tasks", "err", err)
		return
	}
	for kind, n := range unknown {
		p.log.Warn("tasks of a kind this process does not run stay queued", "kind", kind, "count", n)
	}
}

// permanent marks err so that the task is not retried.
func permanent(err error) error { return errkind.Permanent(err) }
