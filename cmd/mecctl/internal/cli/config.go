package cli

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Config is the file of contexts (~/.config/mecctl/config.yaml or $MECCTL_CONFIG), in the
// spirit of a kubeconfig: each context names one MEO and the sites an operator reaches.
type Config struct {
	// CurrentContext is the context used without --context.
	CurrentContext string `json:"current-context,omitempty" yaml:"current-context,omitempty"`
	// Contexts are the known contexts.
	Contexts []Context `json:"contexts,omitempty" yaml:"contexts,omitempty"`
}

// Context is one MEO and its sites, with the credentials to reach them.
type Context struct {
	// Name names the context.
	Name string `json:"name" yaml:"name"`
	// MEO is the MEO's base URL (Mm1).
	MEO string `json:"meo,omitempty" yaml:"meo,omitempty"`
	// Sites maps a site name to its endpoints.
	Sites map[string]Site `json:"sites,omitempty" yaml:"sites,omitempty"`
	// Token is the bearer token; TokenFile a file holding it (read at each use).
	Token     string `json:"token,omitempty" yaml:"token,omitempty"`
	TokenFile string `json:"token-file,omitempty" yaml:"token-file,omitempty"`
	// CAFile is a PEM file of CA certificates trusted besides the system's.
	CAFile string `json:"ca-file,omitempty" yaml:"ca-file,omitempty"`
	// InsecureSkipVerify turns off TLS certificate checks (test sites only).
	InsecureSkipVerify bool `json:"insecure-skip-verify,omitempty" yaml:"insecure-skip-verify,omitempty"`
}

// Site is the endpoints of one edge site. A token here overrides the context's for the
// site's MEP and UPGW (a MEP has its own operator token).
type Site struct {
	MEP       string `json:"mep,omitempty" yaml:"mep,omitempty"`
	UPGW      string `json:"upgw,omitempty" yaml:"upgw,omitempty"`
	Token     string `json:"token,omitempty" yaml:"token,omitempty"`
	TokenFile string `json:"token-file,omitempty" yaml:"token-file,omitempty"`
}

// defaultConfigPath is $MECCTL_CONFIG, else $XDG_CONFIG_HOME/mecctl/config.yaml, else
// $HOME/.config/mecctl/config.yaml.
func defaultConfigPath(env func(string) (string, bool)) string {
	if v, ok := env("MECCTL_CONFIG"); ok && v != "" {
		return v
	}
	if v, ok := env("XDG_CONFIG_HOME"); ok && v != "" {
		return filepath.Join(v, "mecctl", "config.yaml")
	}
	home, _ := env("HOME")
	return filepath.Join(home, ".config", "mecctl", "config.yaml")
}

// loadConfig reads the file; a missing file is an empty configuration.
func loadConfig(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &Config{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	var c Config
	j, err := decodeInput(b, path, &c, true, nil)
	if err != nil {
		return nil, err
	}
	_ = j
	return &c, nil
}

// save writes the file with mode 0600 (it may hold tokens), through a rename.
func (c *Config) save(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	b, err := yaml.Marshal(c)
	if err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	return nil
}

func (c *Config) context(name string) (*Context, bool) {
	for i := range c.Contexts {
		if c.Contexts[i].Name == name {
			return &c.Contexts[i], true
		}
	}
	return nil, false
}

func (c *Config) names() []string {
	out := make([]string, 0, len(c.Contexts))
	for _, x := range c.Contexts {
		out = append(out, x.Name)
	}
	return out
}

func (x *Context) siteNames() []string {
	out := make([]string, 0, len(x.Sites))
	for n := range x.Sites {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// NormalizeURL turns an endpoint as a person writes it into a base URL. Without a scheme,
// https is assumed, except for loopback hosts (localhost, 127.0.0.0/8, ::1), where http is:
// a local MEP or MEO in a trial rarely has a certificate, and nothing leaves the machine.
func NormalizeURL(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return "", errors.New("empty URL")
	}
	if !strings.Contains(s, "://") {
		hostport := s
		if i := strings.IndexByte(hostport, '/'); i >= 0 {
			hostport = hostport[:i]
		}
		host := hostport
		if h, _, err := net.SplitHostPort(hostport); err == nil {
			host = h
		}
		host = strings.Trim(host, "[]")
		scheme := "https://"
		if isLoopback(host) {
			scheme = "http://"
		}
		s = scheme + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return "", fmt.Errorf("URL %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("URL %q: scheme %q, want http or https", raw, u.Scheme)
	}
	if u.Host == "" {
		return "", fmt.Errorf("URL %q: no host", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("URL %q: a base URL takes no query or fragment", raw)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	return u.String(), nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
