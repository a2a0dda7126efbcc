package appd

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"unicode/utf8"

	"sigs.k8s.io/yaml"

	"github.com/edgemec/edgemec/internal/ids"
)

// Bounds on an AppD. They keep one package's descriptor from costing the orchestrator much
// memory or time, and stay above what real descriptors use by a wide margin.
const (
	// MaxSize is the largest AppD document accepted, in bytes.
	MaxSize = 1 << 20
	// maxString bounds names, versions and ids; maxText bounds appDescription.
	maxString = 1024
	maxText   = 16 << 10
	// maxList bounds every list of the AppD (rules, services, images, ...).
	maxList = 256
)

// Parse decodes and checks an AppD given as JSON, YAML or TOSCA YAML (see the package
// documentation for what is accepted). Errors are *FieldError and match ErrInvalid.
func Parse(data []byte) (*AppD, error) {
	v, err := decodeGeneric(data)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fieldErr("", "must be an object, not "+kindOf(v))
	}
	if _, ok := m["tosca_definitions_version"]; ok {
		if m, err = fromTOSCA(m); err != nil {
			return nil, err
		}
	}
	if err := normalise(m); err != nil {
		return nil, err
	}
	a := new(AppD)
	if err := decode("", m, reflect.ValueOf(a).Elem(), 0); err != nil {
		return nil, err
	}
	if err := a.validate(); err != nil {
		return nil, err
	}
	return a, nil
}

// decodeGeneric turns JSON or YAML into the values encoding/json produces for any, with
// numbers kept as json.Number so integers stay exact.
func decodeGeneric(data []byte) (any, error) {
	if len(data) > MaxSize {
		return nil, fieldErr("", fmt.Sprintf("document is larger than %d bytes", MaxSize))
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(data) {
		return nil, fieldErr("", "document is not UTF-8")
	}
	js := data
	if !json.Valid(data) { // JSON is YAML, but the JSON decoder keeps large integers exact
		var err error
		if js, err = yaml.YAMLToJSON(data); err != nil {
			return nil, fieldErr("", fmt.Sprintf("not JSON or YAML: %v", err))
		}
	}
	d := json.NewDecoder(bytes.NewReader(js))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, fieldErr("", fmt.Sprintf("not JSON or YAML: %v", err))
	}
	if _, err := d.Token(); !errors.Is(err, io.EOF) {
		return nil, fieldErr("", "data after the document")
	}
	return v, nil
}

// normalise rewrites the forms older or newer specification versions allow into the one the
// model holds.
func normalise(m map[string]any) error {
	oneToList(m, "swImageDescriptor", isObject)
	oneToList(m, "mecVersion", isString)
	if rules, ok := m["appTrafficRule"].([]any); ok {
		for _, r := range rules {
			if rm, ok := r.(map[string]any); ok {
				oneToList(rm, "dstInterface", isObject) // V2.1.1: one InterfaceDescriptor
			}
		}
	}
	if c, ok := m["terminateAppInstanceOpConfig"].(map[string]any); ok {
		const typo, good = "macRecommendedGracefulTerminationTimeout", "maxRecommendedGracefulTerminationTimeout"
		if v, ok := c[typo]; ok {
			if _, both := c[good]; both {
				return fieldErr("/terminateAppInstanceOpConfig/"+typo, "give "+good+" only")
			}
			c[good] = v
			delete(c, typo)
		}
	}
	return nil
}

func isObject(v any) bool { _, ok := v.(map[string]any); return ok }
func isString(v any) bool { _, ok := v.(string); return ok }

func oneToList(m map[string]any, k string, one func(any) bool) {
	if v, ok := m[k]; ok && one(v) {
		m[k] = []any{v}
	}
}

// validate checks what types alone do not: required members, the id rule, bounds, and the
// rules with the MEP's own checks.
func (a *AppD) validate() error {
	for _, f := range []struct{ n, v string }{
		{"appDId", a.AppDID}, {"appName", a.AppName}, {"appProvider", a.AppProvider},
		{"appSoftVersion", a.AppSoftVersion}, {"appDVersion", a.AppDVersion},
	} {
		if err := checkString("/"+f.n, f.v, true, maxString); err != nil {
			return err
		}
	}
	// The platform's one id rule: the appDId keys packages in URLs and labels the app's
	// objects on every VIM.
	if err := ids.Validate(a.AppDID); err != nil {
		return fieldErr("/appDId", err.Error())
	}
	if len(a.MECVersion) == 0 {
		return fieldErr("/mecVersion", "is required")
	}
	for i, v := range a.MECVersion {
		if err := checkString("/mecVersion/"+strconv.Itoa(i), v, true, maxString); err != nil {
			return err
		}
	}
	if err := checkString("/appInfoName", a.AppInfoName, false, maxString); err != nil {
		return err
	}
	if err := checkString("/appDescription", a.AppDescription, false, maxText); err != nil {
		return err
	}
	for _, l := range []struct {
		n string
		l int
	}{
		{"mecVersion", len(a.MECVersion)}, {"swImageDescriptor", len(a.SwImageDescriptor)},
		{"virtualStorageDescriptor", len(a.VirtualStorageDescriptor)}, {"appExtCpd", len(a.AppExtCpd)},
		{"appServiceRequired", len(a.AppServiceRequired)}, {"appServiceOptional", len(a.AppServiceOptional)},
		{"appServiceProduced", len(a.AppServiceProduced)}, {"appFeatureRequired", len(a.AppFeatureRequired)},
		{"appFeatureOptional", len(a.AppFeatureOptional)}, {"transportDependencies", len(a.TransportDependencies)},
		{"appTrafficRule", len(a.AppTrafficRule)}, {"appDNSRule", len(a.AppDNSRule)},
	} {
		if l.l > maxList {
			return fieldErr("/"+l.n, fmt.Sprintf("has more than %d entries", maxList))
		}
	}
	if c := a.TerminateAppInstanceOpConfig; c != nil && c.MaxRecommendedGracefulTerminationTimeout != nil &&
		*c.MaxRecommendedGracefulTerminationTimeout < c.MinGracefulTerminationTimeout {
		return fieldErr("/terminateAppInstanceOpConfig/maxRecommendedGracefulTerminationTimeout", "is below minGracefulTerminationTimeout")
	}
	if c := a.ChangeAppInstanceStateOpConfig; c != nil && c.MaxRecommendedGracefulStopTimeout != nil &&
		*c.MaxRecommendedGracefulStopTimeout < c.MinGracefulStopTimeout {
		return fieldErr("/changeAppInstanceStateOpConfig/maxRecommendedGracefulStopTimeout", "is below minGracefulStopTimeout")
	}
	if err := a.validatePorts(); err != nil {
		return err
	}
	return a.validateRules()
}

func (a *AppD) validatePorts() error {
	seen := map[string]bool{}
	for i, c := range a.AppExtCpd {
		for j, p := range c.Ports {
			ptr := fmt.Sprintf("/appExtCpd/%d/ports/%d", i, j)
			if p.Port < 1 || p.Port > 65535 {
				return fieldErr(ptr+"/port", fmt.Sprintf("%d is out of range 1-65535", p.Port))
			}
			// A port name is a Kubernetes IANA_SVC_NAME; the adapters name container ports
			// with it.
			if p.Name != "" && ids.Validate(p.Name) != nil || len(p.Name) > 15 {
				return fieldErr(ptr+"/name", fmt.Sprintf("%q is not a lowercase DNS label of at most 15 characters", p.Name))
			}
			key := string(p.Protocol) + "/" + strconv.Itoa(int(p.Port))
			if p.Protocol == "" {
				key = "TCP/" + strconv.Itoa(int(p.Port))
			}
			if seen[key] {
				return fieldErr(ptr, "duplicate port "+key)
			}
			seen[key] = true
		}
	}
	return nil
}

func checkString(ptr, v string, req bool, maxLen int) error {
	switch {
	case v == "" && req:
		return fieldErr(ptr, "is required")
	case len(v) > maxLen:
		return fieldErr(ptr, fmt.Sprintf("is longer than %d bytes", maxLen))
	}
	return nil
}
