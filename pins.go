//go:build pins

// Package pins keeps the pinned dependencies in go.mod while the packages that use them land.
package pins

import (
	_ "github.com/emersion/go-imap/v2/imapclient"
	_ "github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	_ "github.com/emersion/go-message/charset"
	_ "github.com/emersion/go-message/mail"
	_ "github.com/emersion/go-msgauth/authres"
	_ "github.com/emersion/go-msgauth/dkim"
	_ "github.com/hetznercloud/hcloud-go/v2/hcloud"
	_ "github.com/mattn/go-sqlite3"
	_ "github.com/nicholas-fedor/shoutrrr"
	_ "github.com/ovh/go-ovh/ovh"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/spf13/cobra"
	_ "go.yaml.in/yaml/v3"
	_ "golang.org/x/crypto/ssh"
	_ "golang.org/x/crypto/ssh/knownhosts"
)
