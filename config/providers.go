package config

import "fmt"

// Providers holds the credentials of each provider API. A provider whose
// section is absent is not asked.
type Providers struct {
	OVH     *OVH     `yaml:"ovh"`
	Hetzner *Hetzner `yaml:"hetzner"`
}

// OVH configures the OVHcloud API client. Left-out credentials are taken by
// go-ovh from /etc/ovh.conf, ~/.ovh.conf, ./ovh.conf and OVH_* variables.
type OVH struct {
	Endpoint              string `yaml:"endpoint"` // a go-ovh endpoint name or a URL
	ApplicationKey        string `yaml:"application_key"`
	ApplicationSecret     string `yaml:"application_secret"`
	ApplicationSecretEnv  string `yaml:"application_secret_env"`
	ApplicationSecretFile string `yaml:"application_secret_file"`
	ConsumerKey           string `yaml:"consumer_key"`
	ConsumerKeyEnv        string `yaml:"consumer_key_env"`
	ConsumerKeyFile       string `yaml:"consumer_key_file"`
}

// Hetzner configures the Robot (dedicated servers) and Cloud APIs.
type Hetzner struct {
	RobotEndpoint     string `yaml:"robot_endpoint"`
	RobotUser         string `yaml:"robot_user"`
	RobotPassword     string `yaml:"robot_password"`
	RobotPasswordEnv  string `yaml:"robot_password_env"`
	RobotPasswordFile string `yaml:"robot_password_file"`
	CloudEndpoint     string `yaml:"cloud_endpoint"`
	CloudToken        string `yaml:"cloud_token"`
	CloudTokenEnv     string `yaml:"cloud_token_env"`
	CloudTokenFile    string `yaml:"cloud_token_file"`
}

func (p *Providers) applyDefaults() {
	if p.OVH != nil && p.OVH.Endpoint == "" {
		p.OVH.Endpoint = "ovh-eu"
	}
	if h := p.Hetzner; h != nil {
		if h.RobotEndpoint == "" {
			h.RobotEndpoint = "https://robot-ws.your-server.de"
		}
		if h.CloudEndpoint == "" {
			h.CloudEndpoint = "https://api.hetzner.cloud/v1"
		}
	}
}

func (p *Providers) resolveSecrets() error {
	var err error
	if o := p.OVH; o != nil {
		if o.ApplicationSecret, err = resolveSecret(o.ApplicationSecret, o.ApplicationSecretEnv, o.ApplicationSecretFile); err != nil {
			return fmt.Errorf("providers.ovh.application_secret: %w", err)
		}
		if o.ConsumerKey, err = resolveSecret(o.ConsumerKey, o.ConsumerKeyEnv, o.ConsumerKeyFile); err != nil {
			return fmt.Errorf("providers.ovh.consumer_key: %w", err)
		}
	}
	if h := p.Hetzner; h != nil {
		if h.RobotPassword, err = resolveSecret(h.RobotPassword, h.RobotPasswordEnv, h.RobotPasswordFile); err != nil {
			return fmt.Errorf("providers.hetzner.robot_password: %w", err)
		}
		if h.CloudToken, err = resolveSecret(h.CloudToken, h.CloudTokenEnv, h.CloudTokenFile); err != nil {
			return fmt.Errorf("providers.hetzner.cloud_token: %w", err)
		}
	}
	return nil
}
