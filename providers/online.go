package providers

import "context"

// OnlineCheck is the outcome of one authenticated call to one API
// (`config check --online`): nil Err means the credentials work.
type OnlineCheck struct {
	API string // ovh | robot | cloud
	Err error
}

// OnlineChecker is a provider that can try its credentials with one
// authenticated call per API it uses, and no more: Robot locks a client out
// after three failed logins.
type OnlineChecker interface {
	CheckOnline(ctx context.Context) []OnlineCheck
}
