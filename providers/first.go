package providers

import (
	"context"
	"errors"
)

// FirstHolder asks every ask at once which holds an IP, so that one slow or
// failing API never delays or fails another's answer. An IP is held in one
// place only: the first ask to answer without error wins, and the others
// are cancelled (and waited for, so none outlives the call). Without a
// winner it returns the failures, ErrNotOurs left out.
func FirstHolder[T any](ctx context.Context, asks ...func(context.Context) (T, error)) (T, bool, []error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type answer struct {
		v   T
		err error
	}
	answers := make(chan answer, len(asks))
	for _, ask := range asks {
		go func() {
			v, err := ask(ctx)
			answers <- answer{v, err}
		}()
	}
	var won *answer
	var errs []error
	for range asks {
		a := <-answers
		switch {
		case won != nil: // cancelled once another answered
		case a.err == nil:
			won = &a
			cancel()
		case !errors.Is(a.err, ErrNotOurs):
			errs = append(errs, a.err)
		}
	}
	if won == nil {
		var zero T
		return zero, false, errs
	}
	return won.v, true, nil
}
