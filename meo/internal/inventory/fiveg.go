package inventory

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/edgemec/edgemec/internal/obs/logkeys"
	"github.com/edgemec/edgemec/meo/internal/af"
	"github.com/edgemec/edgemec/meo/internal/inventory/record"
)

// FiveGSpec is a site's 5G data as an operator registers it (api/openapi/meo.yaml
// FiveGSpec): the site's DNAIs, DNN and S-NSSAI, and the NEF the MEO asks, as an
// Application Function, to steer the traffic of the site's apps to those DNAIs. Token and
// OAuth2.ClientSecret are secrets.
type FiveGSpec struct {
	DNAIs  []string  `json:"dnais"`
	DNN    string    `json:"dnn"`
	SNSSAI af.SNSSAI `json:"snssai"`
	NEF    NEFSpec   `json:"nef"`
}

// NEFSpec is the NEF endpoint and the AF's credentials there: exactly one of Token and
// OAuth2.
type NEFSpec struct {
	APIRoot   string           `json:"apiRoot"`
	AFID      string           `json:"afId"`
	Token     string           `json:"token,omitempty"`
	OAuth2    *af.OAuth2Config `json:"oauth2,omitempty"`
	TimeoutMS int64            `json:"timeoutMs,omitempty"`
}

// FiveGView is the 5G data as the API shows it, without the NEF credentials.
type FiveGView struct {
	DNAIs  []string  `json:"dnais"`
	DNN    string    `json:"dnn"`
	SNSSAI af.SNSSAI `json:"snssai"`
	NEF    NEFView   `json:"nef"`
}

// NEFView is the NEF endpoint without its credentials.
type NEFView struct {
	APIRoot   string      `json:"apiRoot"`
	AFID      string      `json:"afId"`
	Token     *SecretView `json:"token,omitempty"`
	OAuth2    *OAuth2View `json:"oauth2,omitempty"`
	TimeoutMS int64       `json:"timeoutMs,omitempty"`
}

// OAuth2View is an OAuth 2.0 client credentials grant without its client secret.
type OAuth2View struct {
	TokenURL     string     `json:"tokenUrl"`
	ClientID     string     `json:"clientId"`
	ClientSecret SecretView `json:"clientSecret"`
	Scopes       []string   `json:"scopes,omitempty"`
}

// config is the spec as the AF takes it.
func (f *FiveGSpec) config(siteID string) af.SiteConfig {
	return af.SiteConfig{SiteID: siteID, DNAIs: f.DNAIs, DNN: f.DNN, SNSSAI: f.SNSSAI,
		NEF: af.NEFConfig{APIRoot: f.NEF.APIRoot, AFID: f.NEF.AFID, Token: f.NEF.Token, OAuth2: f.NEF.OAuth2,
			Timeout: time.Duration(f.NEF.TimeoutMS) * time.Millisecond}}
}

// problems checks the 5G data the way the AF will use it, one line per problem.
func (f *FiveGSpec) problems(siteID string) []string {
	if f == nil {
		return nil
	}
	var p []string
	if err := checkURL(f.NEF.APIRoot); err != nil {
		p = append(p, fmt.Sprintf("fiveG.nef.apiRoot: %v", err))
	}
	if f.NEF.TimeoutMS < 0 || f.NEF.TimeoutMS > 300000 {
		p = append(p, fmt.Sprintf("fiveG.nef.timeoutMs: %d: want 0-300000", f.NEF.TimeoutMS))
	}
	if err := f.config(siteID).Validate(); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			p = append(p, "fiveG."+strings.ReplaceAll(strings.TrimPrefix(line, af.ErrInvalid.Error()+": "), "/", "."))
		}
	}
	return p
}

// sealFiveG seals the NEF credentials of a spec for the record.
func (s *Service) sealFiveG(siteID string, f *FiveGSpec) (*record.FiveG, error) {
	if f == nil {
		return nil, nil
	}
	r := &record.FiveG{DNAIs: f.DNAIs, DNN: f.DNN, SNSSAI: record.SNSSAI{SST: f.SNSSAI.SST, SD: f.SNSSAI.SD},
		NEF: record.NEF{APIRoot: f.NEF.APIRoot, AFID: f.NEF.AFID, TimeoutMS: f.NEF.TimeoutMS}}
	var err error
	if f.NEF.Token != "" {
		if r.NEF.Token, err = s.cfg.Box.Seal([]byte(f.NEF.Token), field(siteID, "fiveG.nef.token")); err != nil {
			return nil, err
		}
	}
	if o := f.NEF.OAuth2; o != nil {
		r.NEF.OAuth2 = &record.OAuth2{TokenURL: o.TokenURL, ClientID: o.ClientID, Scopes: o.Scopes}
		if r.NEF.OAuth2.ClientSecret, err = s.cfg.Box.Seal([]byte(o.ClientSecret), field(siteID, "fiveG.nef.oauth2.clientSecret")); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// openFiveG recovers a record's 5G data in clear.
func (s *Service) openFiveG(siteID string, r *record.FiveG) (*FiveGSpec, error) {
	if r == nil {
		return nil, nil
	}
	f := &FiveGSpec{DNAIs: r.DNAIs, DNN: r.DNN, SNSSAI: af.SNSSAI{SST: r.SNSSAI.SST, SD: r.SNSSAI.SD},
		NEF: NEFSpec{APIRoot: r.NEF.APIRoot, AFID: r.NEF.AFID, TimeoutMS: r.NEF.TimeoutMS}}
	if r.NEF.Token != nil {
		b, err := s.cfg.Box.Open(r.NEF.Token, field(siteID, "fiveG.nef.token"))
		if err != nil {
			return nil, fmt.Errorf("site %s: 5G nef token: %w", siteID, err)
		}
		f.NEF.Token = string(b)
	}
	if o := r.NEF.OAuth2; o != nil {
		f.NEF.OAuth2 = &af.OAuth2Config{TokenURL: o.TokenURL, ClientID: o.ClientID, Scopes: o.Scopes}
		if o.ClientSecret != nil {
			b, err := s.cfg.Box.Open(o.ClientSecret, field(siteID, "fiveG.nef.oauth2.clientSecret"))
			if err != nil {
				return nil, fmt.Errorf("site %s: 5G nef client secret: %w", siteID, err)
			}
			f.NEF.OAuth2.ClientSecret = string(b)
		}
	}
	return f, nil
}

func fiveGView(r *record.FiveG) *FiveGView {
	if r == nil {
		return nil
	}
	v := &FiveGView{DNAIs: r.DNAIs, DNN: r.DNN, SNSSAI: af.SNSSAI{SST: r.SNSSAI.SST, SD: r.SNSSAI.SD},
		NEF: NEFView{APIRoot: r.NEF.APIRoot, AFID: r.NEF.AFID, TimeoutMS: r.NEF.TimeoutMS}}
	if r.NEF.Token != nil {
		sv := secretView(r.NEF.Token)
		v.NEF.Token = &sv
	}
	if o := r.NEF.OAuth2; o != nil {
		v.NEF.OAuth2 = &OAuth2View{TokenURL: o.TokenURL, ClientID: o.ClientID, ClientSecret: secretView(o.ClientSecret), Scopes: o.Scopes}
	}
	return v
}

// FiveG returns the site's 5G data as the AF takes it, credentials in clear, with ok false
// when the site has none. The orchestrator's traffic steering calls it.
func (s *Service) FiveG(ctx context.Context, siteID string) (cfg af.SiteConfig, ok bool, err error) {
	r, err := s.st.GetSite(ctx, siteID)
	if err != nil {
		return af.SiteConfig{}, false, mapStore(err, siteID)
	}
	if r.FiveG == nil {
		return af.SiteConfig{}, false, nil
	}
	if s.cfg.Box == nil {
		return af.SiteConfig{}, false, errorf(ErrNoKey, "the MEO has no secret key (--secret-key-file), so it cannot open site %s's NEF credentials", siteID)
	}
	f, err := s.openFiveG(siteID, r.FiveG)
	if err != nil {
		return af.SiteConfig{}, false, err
	}
	return f.config(siteID), true, nil
}

// FiveGFollower follows a site's 5G data as it changes: the orchestrator's traffic
// steering (orchestrate.Steerer), which moves the subscriptions of the site's instances.
type FiveGFollower interface {
	// FiveGChanged is told the data before (nil if none) and after (nil once removed), in
	// clear, once the change is stored.
	FiveGChanged(ctx context.Context, siteID string, old, next *af.SiteConfig) error
}

// ReplaceFiveG gives a site 5G data or replaces its 5G data as a whole; nil removes it
// (removing none succeeds). Once the change is stored, f (if set) is told, with the former
// data in clear, so that the subscriptions made with it can be deleted at the former NEF:
// nothing keeps the former credentials afterwards. What f fails at it shows on the
// instances and the log; the change stands.
func (s *Service) ReplaceFiveG(ctx context.Context, id string, spec *FiveGSpec, f FiveGFollower) (View, error) {
	if s.cfg.Box == nil {
		return View{}, errorf(ErrNoKey, "the MEO has no secret key (--secret-key-file), so it cannot store or open the site's NEF credentials")
	}
	var sealed *record.FiveG
	if spec != nil {
		if probs := spec.problems(id); len(probs) > 0 {
			return View{}, &InvalidError{Problems: probs}
		}
		var err error
		if sealed, err = s.sealFiveG(id, spec); err != nil {
			return View{}, err
		}
	}
	var prev *record.FiveG
	if _, err := s.st.UpdateSite(ctx, id, func(r *record.Site) error {
		prev, r.FiveG = r.FiveG, sealed
		return nil
	}); err != nil {
		return View{}, mapStore(err, id)
	}
	var old, next *af.SiteConfig
	if prev != nil {
		o, err := s.openFiveG(id, prev)
		if err != nil {
			// Sealed with another key: the former NEF cannot be reached any more.
			s.log.WarnContext(ctx, "former 5G data unreadable", logkeys.Site, id, logkeys.Error, err.Error())
		} else {
			c := o.config(id)
			old = &c
		}
	}
	if spec != nil {
		c := spec.config(id)
		next = &c
	}
	switch {
	case spec == nil && prev == nil:
		return s.Get(ctx, id)
	case spec == nil:
		s.log.InfoContext(ctx, "site 5G data removed", logkeys.Site, id)
	default:
		s.log.InfoContext(ctx, "site 5G data replaced", logkeys.Site, id)
	}
	if f != nil {
		if err := f.FiveGChanged(ctx, id, old, next); err != nil {
			s.log.WarnContext(ctx, "traffic steering did not follow the site's 5G data", logkeys.Site, id, logkeys.Error, err.Error())
		}
	}
	return s.Get(ctx, id)
}
