// Package store declares what the MEO keeps: application packages with their content, and
// package-management subscriptions. Its types carry the ETSI GS MEC 010-2 attribute names
// as JSON tags, so that a package's JSON document is what MEC 009 attribute selectors
// filter on. Implementations live in subpackages (pgstore); storetest is the contract
// suite every implementation passes.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"time"
)

// Sentinel errors. Implementations map their own errors onto them.
var (
	// ErrNotFound means no such package or subscription.
	ErrNotFound = errors.New("not found")
	// ErrConflict means a uniqueness constraint was violated (for example a second
	// onboarded package with the same appDId).
	ErrConflict = errors.New("conflict")
	// ErrTooLarge means package content exceeded the size limit.
	ErrTooLarge = errors.New("content too large")
	// ErrSchemaNewer means the database was migrated by a newer MEO than this one.
	ErrSchemaNewer = errors.New("database schema is newer than this binary")
)

// Onboarding states (ETSI GS MEC 010-2 OnboardingState, plus ERROR from ETSI GS NFV-SOL 005).
const (
	Created    = "CREATED"
	Uploading  = "UPLOADING"
	Processing = "PROCESSING"
	Onboarded  = "ONBOARDED"
	Error      = "ERROR"
)

// Operational and usage states.
const (
	Enabled  = "ENABLED"
	Disabled = "DISABLED"
	InUse    = "IN_USE"
	NotInUse = "NOT_IN_USE"
)

// Checksum is the algorithm and hex digest of a package's content.
type Checksum struct {
	Algorithm string `json:"algorithm"`
	Hash      string `json:"hash"`
}

// Failure says why onboarding failed (an RFC 7807 problem).
type Failure struct {
	Status int    `json:"status"`
	Title  string `json:"title,omitempty"`
	Detail string `json:"detail"`
}

// Package is an application package resource. The tagged fields are its AppPkgInfo
// attributes (without _links); the others are internal.
type Package struct {
	ID                  string           `json:"id"`
	AppDID              string           `json:"appDId,omitempty"`
	AppProvider         string           `json:"appProvider,omitempty"`
	AppName             string           `json:"appName,omitempty"`
	AppSoftwareVersion  string           `json:"appSoftwareVersion,omitempty"`
	AppDVersion         string           `json:"appDVersion,omitempty"`
	AppPkgName          string           `json:"appPkgName,omitempty"`
	AppPkgVersion       string           `json:"appPkgVersion,omitempty"`
	Checksum            Checksum         `json:"checksum"`
	SoftwareImages      []map[string]any `json:"softwareImages,omitempty"`
	AdditionalArtifacts []map[string]any `json:"additionalArtifacts,omitempty"`
	OnboardingState     string           `json:"onboardingState"`
	OnboardingFailure   *Failure         `json:"onboardingFailureDetails,omitempty"`
	OperationalState    string           `json:"operationalState"`
	UsageState          string           `json:"usageState"`
	UserDefinedData     map[string]any   `json:"userDefinedData,omitempty"`

	// AppPkgPath is where the content is fetched from ("" when it is uploaded).
	AppPkgPath string `json:"-"`
	// Created and Updated are set by the store.
	Created time.Time `json:"-"`
	Updated time.Time `json:"-"`
	// ContentSize is the stored content's length (0: none).
	ContentSize int64 `json:"-"`
	// AppD is the AppD as found in the package; AppDFormat is "yaml" or "json".
	AppD       []byte `json:"-"`
	AppDFormat string `json:"-"`
	// Parsed is the onboarding result, kept so the package is parsed once.
	Parsed json.RawMessage `json:"-"`
}

// Event is a package change subscribers may be told about.
type Event struct {
	// Type is an AppPkgNotification notificationType (correct spelling).
	Type             string
	PackageID        string
	AppDID           string
	AppProvider      string
	AppName          string
	OperationalState string
	Time             time.Time
}

// Notification types (the correct spellings; ETSI GS MEC 010-2 V2.2.1).
const (
	AppPackageOnBoarded = "AppPackageOnBoarded"
	AppPackageEnabled   = "AppPackageEnabled"
	AppPackageDisabled  = "AppPackageDisabled"
	AppPackageDeleted   = "AppPackageDeleted"
)

// Change is what an update does besides writing the package.
type Change struct {
	// Events are queued for delivery in the same transaction as the change.
	Events []Event
	// DropContent deletes the stored content.
	DropContent bool
}

// UpdateFunc mutates p (read under a row lock) and says what else the update does. An error
// aborts the update and is returned as is.
type UpdateFunc func(p *Package) (Change, error)

// Filter is a compiled attribute filter over a package's JSON document (selector.Expr is
// one): it appends its arguments to args and returns an SQL condition on the jsonb column
// col, reading the attributes that columns maps from those (indexed) columns instead.
type Filter interface {
	SQLColumns(col string, columns map[string]string, args *[]any) (string, error)
}

// ListQuery selects packages.
type ListQuery struct {
	// Filter restricts the result (nil: all).
	Filter Filter
	// OnboardedOnly keeps packages in the ONBOARDED state.
	OnboardedOnly bool
	// After is the position of the last package of the previous page (0: from the start).
	After int64
	// Limit caps the result (0: no limit).
	Limit int
	// Omit names top-level attributes of the AppPkgInfo document (JSON names) that the
	// caller will not show: the store may leave them out of the packages it returns, so that
	// a list does not decode what its answer drops.
	Omit []string
}

// Page is a ListPackages result.
type Page struct {
	Packages []*Package
	// Next is the position to pass as After for the next page (0: this was the last page).
	Next int64
}

// Subscription is an AppPkgSubscription.
type Subscription struct {
	ID               string          `json:"id"`
	SubscriptionType string          `json:"subscriptionType"`
	CallbackURI      string          `json:"callbackUri"`
	Filter           json.RawMessage `json:"appPkgFilter,omitempty"`
	Created          time.Time       `json:"-"`
}

// Content is stored package content, read back by random access.
type Content interface {
	io.ReaderAt
	// Size is the content's length in bytes.
	Size() int64
	// Close releases the reader.
	Close() error
}

// EventRouter chooses, inside the transaction that records the events, which subscription
// gets which notification body.
type EventRouter func(subs []*Subscription, events []Event) []Delivery

// Delivery is one notification queued for one subscription.
type Delivery struct {
	SubscriptionID string
	CallbackURI    string
	Body           []byte
}

// Store is the MEO's persistent state.
type Store interface {
	// CreatePackage inserts p; ID must be set.
	CreatePackage(ctx context.Context, p *Package) error
	// GetPackage returns the package with the id.
	GetPackage(ctx context.Context, id string) (*Package, error)
	// GetOnboardedByAppDID returns the onboarded package whose AppD has the id.
	GetOnboardedByAppDID(ctx context.Context, appDID string) (*Package, error)
	// ListPackages returns packages in creation order.
	ListPackages(ctx context.Context, q ListQuery) (Page, error)
	// UpdatePackage runs fn on the package under a row lock and writes the result.
	UpdatePackage(ctx context.Context, id string, fn UpdateFunc) (*Package, error)
	// DeletePackage runs check on the package under a row lock and, when it returns nil,
	// deletes the package and its content and queues the change's events.
	DeletePackage(ctx context.Context, id string, check UpdateFunc) error
	// StoreContent replaces the package's content with r's bytes (at most max) and runs fn
	// with the package and the size read in the same transaction: the content is stored only
	// when fn succeeds. It returns ErrTooLarge when r holds more than max bytes.
	StoreContent(ctx context.Context, id string, r io.Reader, max int64, fn func(p *Package, size int64) (Change, error)) (*Package, error)
	// OpenContent returns a reader of the package's content.
	OpenContent(ctx context.Context, id string) (Content, error)

	// CreateSubscription inserts s; ID must be set.
	CreateSubscription(ctx context.Context, s *Subscription) error
	// GetSubscription returns the subscription with the id.
	GetSubscription(ctx context.Context, id string) (*Subscription, error)
	// ListSubscriptions returns every subscription in creation order.
	ListSubscriptions(ctx context.Context) ([]*Subscription, error)
	// DeleteSubscription deletes the subscription.
	DeleteSubscription(ctx context.Context, id string) error

	// Close releases the store's connections.
	Close() error
}
