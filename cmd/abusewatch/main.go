// Command abusewatch turns hosting-provider abuse mail into action.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/abusewatch/abusewatch/pipeline"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCmd().ExecuteContext(ctx); err != nil {
		// Errors quote mail (a reason, a subject) and servers: printable only.
		fmt.Fprintln(os.Stderr, "abusewatch:", pipeline.Printable(err.Error(), 0))
		os.Exit(1)
	}
}
