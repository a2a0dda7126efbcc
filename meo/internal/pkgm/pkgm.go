package pkgm

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"errors"
	"hash"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/edgemec/edgemec/internal/obs/logkeys"
	"github.com/edgemec/edgemec/meo/internal/store"
)

// Parsed is what onboarding keeps of a valid package.
type Parsed struct {
	AppDID, AppName, AppProvider, AppSoftVersion, AppDVersion string
	// AppD is the AppD file's bytes; AppDFormat is "yaml" or "json".
	AppD       []byte
	AppDFormat string
	// SoftwareImages and Artifacts become AppPkgInfo.softwareImages and additionalArtifacts.
	SoftwareImages []map[string]any
	Artifacts      []map[string]any
	// Doc is the whole parse result (JSON), kept for instantiation.
	Doc json.RawMessage
}

// Reader reads and checks a package zip. An error is the reason the package is refused;
// it is shown to the client, so it must name what is wrong (the entry, the AppD field).
type Reader func(r io.ReaderAt, size int64) (*Parsed, error)

// Config configures a Service.
type Config struct {
	// APIRoot is the externally visible scheme://host:port of the MEO.
	APIRoot string
	// Reader reads packages (required).
	Reader Reader
	// Fetcher fetches appPkgPath content (required for appPkgPath).
	Fetcher *Fetcher
	// MaxPackageBytes bounds package content (default 1 GiB).
	MaxPackageBytes int64
	// StaleAfter is how long a package may stay UPLOADING or PROCESSING before Recover
	// fails it (default 10 min).
	StaleAfter time.Duration
	// Deny is checked against literal callback addresses of new subscriptions.
	Deny DenyFunc
	// Unsubscribed is told about deleted subscriptions (their queued notifications are
	// dropped unsent).
	Unsubscribed func(id string)
}

// DenyFunc reports whether a callback host (a literal address or a name) is refused.
type DenyFunc func(host string) bool

// Service is package management over a store.
type Service struct {
	cfg Config
	st  store.Store
	log *slog.Logger

	// bg runs appPkgPath fetches; they outlive the request that started them.
	mu     sync.Mutex
	bgCtx  context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New returns a Service.
func New(cfg Config, st store.Store, log *slog.Logger) *Service {
	if cfg.MaxPackageBytes == 0 {
		cfg.MaxPackageBytes = 1 << 30
	}
	if cfg.StaleAfter == 0 {
		cfg.StaleAfter = 10 * time.Minute
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Service{cfg: cfg, st: st, log: log, bgCtx: ctx, cancel: cancel}
}

// Close stops background fetches and waits for them; a fetch cut short leaves its package
// in ERROR.
func (s *Service) Close() {
	s.cancel()
	s.wg.Wait()
}

// storeErr maps store sentinels to domain errors, keeping domain errors as they are.
func storeErr(err error, what string) error {
	var de *Error
	switch {
	case err == nil:
		return nil
	case errors.As(err, &de):
		return de
	case errors.Is(err, store.ErrNotFound):
		return errorf(ErrNotFound, "%s not found", what)
	case errors.Is(err, store.ErrTooLarge):
		return errorf(ErrTooLarge, "%s", err.Error())
	}
	return err
}

// CreateInput is a CreateAppPkg request.
type CreateInput struct {
	AppPkgName, AppPkgVersion, AppProvider string
	Checksum                               store.Checksum
	AppPkgPath                             string
	UserDefinedData                        map[string]any
}

// normalizeAlgorithm accepts SHA-256 and SHA-512 in any case, with or without the dash.
func normalizeAlgorithm(a string) (string, int, bool) {
	switch strings.ReplaceAll(strings.ToUpper(a), "-", "") {
	case "SHA256":
		return "SHA-256", sha256.Size, true
	case "SHA512":
		return "SHA-512", sha512.Size, true
	}
	return "", 0, false
}

func newHash(alg string) hash.Hash {
	if alg == "SHA-512" {
		return sha512.New()
	}
	return sha256.New()
}

// Create creates a package resource; with an appPkgPath it starts fetching the content.
func (s *Service) Create(ctx context.Context, in CreateInput) (*store.Package, error) {
	alg, size, ok := normalizeAlgorithm(in.Checksum.Algorithm)
	if !ok {
		return nil, errorf(ErrInvalid, "checksum.algorithm %q: want SHA-256 or SHA-512", in.Checksum.Algorithm)
	}
	h := strings.ToLower(in.Checksum.Hash)
	if b, err := hex.DecodeString(h); err != nil || len(b) != size {
		return nil, errorf(ErrInvalid, "checksum.hash: want %d hexadecimal digits for %s", 2*size, alg)
	}
	if in.AppPkgPath != "" {
		if s.cfg.Fetcher == nil {
			return nil, errorf(ErrInvalid, "appPkgPath: fetching packages is disabled")
		}
		if err := s.cfg.Fetcher.Check(in.AppPkgPath); err != nil {
			return nil, err
		}
	}
	p := &store.Package{
		ID: uuid.NewString(), AppProvider: in.AppProvider, AppPkgName: in.AppPkgName, AppPkgVersion: in.AppPkgVersion,
		Checksum: store.Checksum{Algorithm: alg, Hash: h}, OnboardingState: store.Created,
		OperationalState: store.Disabled, UsageState: store.NotInUse, UserDefinedData: in.UserDefinedData,
		AppPkgPath: in.AppPkgPath,
	}
	if err := s.st.CreatePackage(ctx, p); err != nil {
		return nil, err
	}
	if in.AppPkgPath != "" {
		s.startFetch(p.ID, in.AppPkgPath)
	}
	return p, nil
}

func (s *Service) startFetch(id, path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bgCtx.Err() != nil {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx := s.bgCtx
		err := s.take(ctx, id, func(ctx context.Context, put func(io.Reader) error) error {
			return s.cfg.Fetcher.Fetch(ctx, path, s.cfg.MaxPackageBytes, put)
		})
		if err != nil {
			s.log.WarnContext(ctx, "package fetch failed", logkeys.Name, id, logkeys.Error, err)
		}
	}()
}

// Get returns the package.
func (s *Service) Get(ctx context.Context, id string) (*store.Package, error) {
	p, err := s.st.GetPackage(ctx, id)
	return p, storeErr(err, "app package "+id)
}

// GetOnboarded returns the onboarded package of the AppD.
func (s *Service) GetOnboarded(ctx context.Context, appDID string) (*store.Package, error) {
	p, err := s.st.GetOnboardedByAppDID(ctx, appDID)
	return p, storeErr(err, "onboarded app package with appDId "+appDID)
}

// List returns a page of packages.
func (s *Service) List(ctx context.Context, q store.ListQuery) (store.Page, error) {
	return s.st.ListPackages(ctx, q)
}

// Upload takes the package content from r.
func (s *Service) Upload(ctx context.Context, id string, r io.Reader) error {
	return s.take(ctx, id, func(_ context.Context, put func(io.Reader) error) error { return put(r) })
}

// UploadByAppDID takes the package content from r for the package with that appDId (MEC
// 010-2 PUT /onboarded_app_packages/{appDId}/package_content), by the same steps as Upload.
// A package has an appDId only once its AppD was read, and content is taken once, in
// CREATED: an unknown appDId is ErrNotFound and a known one ErrConflict, and r is not read.
func (s *Service) UploadByAppDID(ctx context.Context, appDID string, r io.Reader) error {
	p, err := s.GetOnboarded(ctx, appDID)
	if err != nil {
		return err
	}
	return s.Upload(ctx, p.ID, r)
}

// take runs the onboarding steps of the package documentation; source calls put with the
// content once.
func (s *Service) take(ctx context.Context, id string, source func(context.Context, func(io.Reader) error) error) error {
	// 1. CREATED → UPLOADING, or 409.
	p, err := s.st.UpdatePackage(ctx, id, func(p *store.Package) (store.Change, error) {
		if p.OnboardingState != store.Created {
			return store.Change{}, errorf(ErrConflict, "app package %s is %s: content is taken once, in CREATED", id, p.OnboardingState)
		}
		p.OnboardingState = store.Uploading
		return store.Change{}, nil
	})
	if err != nil {
		return storeErr(err, "app package "+id)
	}
	// 2. Stream into chunks while hashing; the checksum decides the commit.
	h := newHash(p.Checksum.Algorithm)
	err = source(ctx, func(r io.Reader) error {
		_, err := s.st.StoreContent(ctx, id, io.TeeReader(sourceReader{r}, h), s.cfg.MaxPackageBytes,
			func(p *store.Package, size int64) (store.Change, error) {
				if size == 0 {
					return store.Change{}, errorf(ErrInvalid, "package content is empty")
				}
				if got := hex.EncodeToString(h.Sum(nil)); got != p.Checksum.Hash {
					return store.Change{}, errorf(ErrInvalid, "checksum mismatch: content has %s %s, want %s", p.Checksum.Algorithm, got, p.Checksum.Hash)
				}
				p.OnboardingState = store.Processing
				return store.Change{}, nil
			})
		return err
	})
	if err != nil {
		err = storeErr(err, "app package "+id)
		s.fail(ctx, id, err)
		return err
	}
	// 3. Read and check the package, then ONBOARDED or ERROR.
	return s.onboard(ctx, id)
}

// fail puts the package in ERROR with err as the reason and drops its content. It runs
// even when ctx was cancelled (a client that went away mid-upload). A cancelled ctx makes
// the failure an interruption whatever cause says: PostgreSQL's driver reports a statement
// cut short by the cancel as an error of its closed connection, not as context.Canceled.
func (s *Service) fail(ctx context.Context, id string, cause error) {
	interrupted := ctx.Err() != nil
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	status, detail := 422, "onboarding failed"
	var de *Error
	switch {
	case errors.As(cause, &de):
		detail = de.Detail
		if errors.Is(de, ErrTooLarge) {
			status = 413
		}
	case interrupted || errors.Is(cause, context.Canceled) || errors.Is(cause, context.DeadlineExceeded):
		detail = "the content transfer was interrupted"
	case errors.As(cause, new(sourceError)):
		detail = "the content transfer was interrupted: " + cause.Error()
	case cause != nil:
		detail = "onboarding failed: " + cause.Error()
	}
	_, err := s.st.UpdatePackage(ctx, id, func(p *store.Package) (store.Change, error) {
		p.OnboardingState = store.Error
		p.OnboardingFailure = &store.Failure{Status: status, Title: "Onboarding failed", Detail: detail}
		return store.Change{DropContent: true}, nil
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.ErrorContext(ctx, "mark package failed", logkeys.Name, id, logkeys.Error, err)
	}
}

// sourceReader marks the errors of the content's source (a client gone mid-upload, a
// fetch cut short) apart from the store's own.
type sourceReader struct{ r io.Reader }

func (r sourceReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = sourceError{err}
	}
	return n, err
}

type sourceError struct{ err error }

func (e sourceError) Error() string { return e.err.Error() }
func (e sourceError) Unwrap() error { return e.err }

func (s *Service) onboard(ctx context.Context, id string) error {
	c, err := s.st.OpenContent(ctx, id)
	if err != nil {
		s.fail(ctx, id, err)
		return storeErr(err, "app package "+id)
	}
	parsed, perr := s.cfg.Reader(c, c.Size())
	c.Close()
	if perr != nil {
		if ctx.Err() != nil {
			s.fail(ctx, id, ctx.Err())
			return ctx.Err()
		}
		bad := &Error{Kind: ErrInvalid, Detail: "invalid package: " + perr.Error()}
		s.fail(ctx, id, bad)
		return bad
	}
	_, err = s.st.UpdatePackage(ctx, id, func(p *store.Package) (store.Change, error) {
		if p.OnboardingState != store.Processing {
			return store.Change{}, errorf(ErrConflict, "app package %s is %s", id, p.OnboardingState)
		}
		p.OnboardingState = store.Onboarded
		p.OperationalState = store.Enabled
		p.AppDID, p.AppName, p.AppDVersion, p.AppSoftwareVersion = parsed.AppDID, parsed.AppName, parsed.AppDVersion, parsed.AppSoftVersion
		if parsed.AppProvider != "" {
			p.AppProvider = parsed.AppProvider
		}
		p.AppD, p.AppDFormat, p.Parsed = parsed.AppD, parsed.AppDFormat, parsed.Doc
		p.SoftwareImages, p.AdditionalArtifacts = parsed.SoftwareImages, parsed.Artifacts
		return store.Change{Events: []store.Event{event(store.AppPackageOnBoarded, p)}}, nil
	})
	if errors.Is(err, store.ErrConflict) {
		dup := errorf(ErrConflict, "appDId %s is already onboarded by another package", parsed.AppDID)
		s.fail(ctx, id, dup)
		return dup
	}
	if err != nil {
		s.fail(ctx, id, err)
		return storeErr(err, "app package "+id)
	}
	return nil
}

func event(typ string, p *store.Package) store.Event {
	return store.Event{Type: typ, PackageID: p.ID, AppDID: p.AppDID, AppProvider: p.AppProvider, AppName: p.AppName,
		OperationalState: p.OperationalState, Time: time.Now()}
}

// SetOperationalState enables or disables an onboarded package.
func (s *Service) SetOperationalState(ctx context.Context, id, state string) (*store.Package, error) {
	if state != store.Enabled && state != store.Disabled {
		return nil, errorf(ErrInvalid, "operationalState %q: want ENABLED or DISABLED", state)
	}
	p, err := s.st.UpdatePackage(ctx, id, func(p *store.Package) (store.Change, error) {
		if p.OnboardingState != store.Onboarded {
			return store.Change{}, errorf(ErrConflict, "app package %s is %s: only an onboarded package can be enabled or disabled", id, p.OnboardingState)
		}
		if p.OperationalState == state {
			return store.Change{}, errorf(ErrConflict, "app package %s is %s already", id, state)
		}
		p.OperationalState = state
		typ := store.AppPackageEnabled
		if state == store.Disabled {
			typ = store.AppPackageDisabled
		}
		return store.Change{Events: []store.Event{event(typ, p)}}, nil
	})
	return p, storeErr(err, "app package "+id)
}

// SetUsage marks a package IN_USE or NOT_IN_USE (app lifecycle management calls it).
func (s *Service) SetUsage(ctx context.Context, id string, inUse bool) error {
	_, err := s.st.UpdatePackage(ctx, id, func(p *store.Package) (store.Change, error) {
		p.UsageState = store.NotInUse
		if inUse {
			p.UsageState = store.InUse
		}
		return store.Change{}, nil
	})
	return storeErr(err, "app package "+id)
}

// Delete deletes a package that is neither ENABLED nor IN_USE, with its content.
func (s *Service) Delete(ctx context.Context, id string) error {
	err := s.st.DeletePackage(ctx, id, func(p *store.Package) (store.Change, error) {
		if p.OperationalState == store.Enabled {
			return store.Change{}, errorf(ErrConflict, "app package %s is ENABLED: disable it first", id)
		}
		if p.UsageState == store.InUse {
			return store.Change{}, errorf(ErrConflict, "app package %s is IN_USE", id)
		}
		switch p.OnboardingState {
		case store.Uploading, store.Processing:
			return store.Change{}, errorf(ErrConflict, "app package %s is %s", id, p.OnboardingState)
		}
		var ch store.Change
		if p.AppDID != "" {
			ch.Events = []store.Event{event(store.AppPackageDeleted, p)}
		}
		return ch, nil
	})
	return storeErr(err, "app package "+id)
}

// Recover fails the packages left UPLOADING or PROCESSING for longer than StaleAfter (their
// MEO process died mid-onboarding).
func (s *Service) Recover(ctx context.Context) error {
	var after int64
	for {
		page, err := s.st.ListPackages(ctx, store.ListQuery{After: after, Limit: 500, Filter: inFlight{}})
		if err != nil {
			return err
		}
		for _, p := range page.Packages {
			if time.Since(p.Updated) < s.cfg.StaleAfter {
				continue
			}
			_, err := s.st.UpdatePackage(ctx, p.ID, func(q *store.Package) (store.Change, error) {
				if q.OnboardingState != store.Uploading && q.OnboardingState != store.Processing || time.Since(q.Updated) < s.cfg.StaleAfter {
					return store.Change{}, errorf(ErrConflict, "moved on")
				}
				q.OnboardingState = store.Error
				q.OnboardingFailure = &store.Failure{Status: 500, Title: "Onboarding failed", Detail: "onboarding was interrupted; delete the package and create it again"}
				return store.Change{DropContent: true}, nil
			})
			if err == nil {
				s.log.WarnContext(ctx, "stale onboarding failed", logkeys.Name, p.ID)
			}
		}
		if page.Next == 0 {
			return nil
		}
		after = page.Next
	}
}

// inFlight selects packages in UPLOADING or PROCESSING.
type inFlight struct{}

func (inFlight) SQLColumns(col string, _ map[string]string, _ *[]any) (string, error) {
	return col + "->>'onboardingState' IN ('UPLOADING', 'PROCESSING')", nil
}

// validCallback checks a subscription's callbackUri.
func (s *Service) validCallback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errorf(ErrInvalid, "callbackUri %q: want an absolute http or https URI", raw)
	}
	if s.cfg.Deny != nil && s.cfg.Deny(u.Hostname()) {
		return errorf(ErrInvalid, "callbackUri %q: the address is not allowed", raw)
	}
	return nil
}

// Content opens the package's stored content.
func (s *Service) Content(ctx context.Context, id string) (store.Content, error) {
	c, err := s.st.OpenContent(ctx, id)
	return c, storeErr(err, "app package "+id)
}
