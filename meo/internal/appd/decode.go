package appd

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/edgemec/edgemec/mep/mm5api"
	"github.com/edgemec/edgemec/mep/mp1api"
)

// required lists the members a type must have, beyond what its Go zero value can express
// (the decoder cannot tell an absent priority from 0). Named after the GS MEC 010-2 tables.
var required = map[reflect.Type][]string{
	reflect.TypeFor[mp1api.TrafficRule]():             {"trafficRuleId", "filterType", "priority", "trafficFilter", "action"},
	reflect.TypeFor[mp1api.DnsRule]():                 {"dnsRuleId", "domainName", "ipAddressType", "ipAddress"},
	reflect.TypeFor[mp1api.ServiceDependency]():       {"serName", "version"},
	reflect.TypeFor[mm5api.ServiceDescriptor]():       {"serName", "version"},
	reflect.TypeFor[mp1api.FeatureDependency]():       {"featureName", "version"},
	reflect.TypeFor[mp1api.CategoryRef]():             {"href", "id", "name", "version"},
	reflect.TypeFor[mp1api.DestinationInterface]():    {"interfaceType"},
	reflect.TypeFor[mp1api.TunnelInfo]():              {"tunnelType"},
	reflect.TypeFor[TransportDependency]():            {"transport", "serializers", "labels"},
	reflect.TypeFor[TransportDescriptor]():            {"type", "protocol", "version"},
	reflect.TypeFor[LatencyDescriptor]():              {"maxLatency"},
	reflect.TypeFor[Checksum]():                       {"algorithm", "hash"},
	reflect.TypeFor[Port]():                           {"port"},
	reflect.TypeFor[VirtualCPU]():                     {"numVirtualCpu"},
	reflect.TypeFor[VirtualMemory]():                  {"virtualMemSize"},
	reflect.TypeFor[TerminateAppInstanceOpConfig]():   {"minGracefulTerminationTimeout"},
	reflect.TypeFor[ChangeAppInstanceStateOpConfig](): {"minGracefulStopTimeout"},
}

type validator interface{ Valid() bool }

var validatorType = reflect.TypeFor[validator]()

// maxDepth bounds nesting in members kept as given (any), which come from untrusted packages.
const maxDepth = 64

// decode stores the generic JSON value v (as encoding/json decodes into any with UseNumber)
// into rv, strictly: types must match, enum types (those with a Valid method) must hold a
// listed value, structs reject unknown members except "x-" extensions. ptr is v's JSON
// pointer, for errors.
func decode(ptr string, v any, rv reflect.Value, depth int) error {
	if depth > maxDepth {
		return fieldErr(ptr, fmt.Sprintf("nested deeper than %d levels", maxDepth))
	}
	t := rv.Type()
	if v == nil {
		// null is the absent value: leave the zero value.
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		p := reflect.New(t.Elem())
		if err := decode(ptr, v, p.Elem(), depth+1); err != nil {
			return err
		}
		rv.Set(p)
		return nil
	case reflect.Interface:
		if err := checkDepth(ptr, v, depth); err != nil {
			return err
		}
		rv.Set(reflect.ValueOf(v))
		return nil
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return typeErr(ptr, "an object", v)
		}
		return decodeStruct(ptr, m, rv, depth)
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return typeErr(ptr, "an object", v)
		}
		out := reflect.MakeMapWithSize(t, len(m))
		for _, k := range slices.Sorted(maps.Keys(m)) {
			ev := reflect.New(t.Elem()).Elem()
			if err := decode(ptr+"/"+escape(k), m[k], ev, depth+1); err != nil {
				return err
			}
			out.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), ev)
		}
		rv.Set(out)
		return nil
	case reflect.Slice:
		l, ok := v.([]any)
		if !ok {
			return typeErr(ptr, "a list", v)
		}
		out := reflect.MakeSlice(t, len(l), len(l))
		for i, e := range l {
			if e == nil && t.Elem().Kind() != reflect.Interface {
				return fieldErr(ptr+"/"+strconv.Itoa(i), "must not be null")
			}
			if err := decode(ptr+"/"+strconv.Itoa(i), e, out.Index(i), depth+1); err != nil {
				return err
			}
		}
		rv.Set(out)
		return nil
	case reflect.String:
		s, ok := v.(string)
		if !ok {
			return typeErr(ptr, "a string", v)
		}
		rv.SetString(s)
		if t.Implements(validatorType) && s != "" && !rv.Interface().(validator).Valid() {
			return fieldErr(ptr, fmt.Sprintf("%q is not a valid value", s))
		}
		return nil
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			return typeErr(ptr, "a boolean", v)
		}
		rv.SetBool(b)
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := v.(json.Number)
		if !ok {
			return typeErr(ptr, "an integer", v)
		}
		i, err := strconv.ParseInt(n.String(), 10, 64)
		if err != nil || rv.OverflowInt(i) {
			return fieldErr(ptr, fmt.Sprintf("%s is not an integer in range", n))
		}
		rv.SetInt(i)
		return nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := v.(json.Number)
		if !ok {
			return typeErr(ptr, "an integer", v)
		}
		i, err := strconv.ParseUint(n.String(), 10, 64)
		if err != nil || rv.OverflowUint(i) {
			return fieldErr(ptr, fmt.Sprintf("%s is not a non-negative integer in range", n))
		}
		rv.SetUint(i)
		return nil
	case reflect.Float32, reflect.Float64:
		n, ok := v.(json.Number)
		if !ok {
			return typeErr(ptr, "a number", v)
		}
		f, err := n.Float64()
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || f < 0 {
			return fieldErr(ptr, fmt.Sprintf("%s is not a non-negative number", n))
		}
		rv.SetFloat(f)
		return nil
	}
	return fieldErr(ptr, fmt.Sprintf("cannot decode into %s", t)) // a model bug, not input
}

// structFields maps a struct type to its JSON member names and field indexes.
var structFields sync.Map // reflect.Type → map[string]int

func fieldsOf(t reflect.Type) map[string]int {
	if f, ok := structFields.Load(t); ok {
		return f.(map[string]int)
	}
	fields := map[string]int{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			fields[name] = i
		}
	}
	structFields.Store(t, fields)
	return fields
}

func decodeStruct(ptr string, m map[string]any, rv reflect.Value, depth int) error {
	t := rv.Type()
	fields := fieldsOf(t)
	for _, name := range required[t] {
		if v, ok := m[name]; !ok || v == nil || v == "" {
			return fieldErr(ptr+"/"+escape(name), "is required")
		}
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		i, ok := fields[k]
		if !ok {
			if strings.HasPrefix(k, "x-") {
				continue
			}
			return fieldErr(ptr+"/"+escape(k), "is not a member of "+typeName(t))
		}
		if err := decode(ptr+"/"+escape(k), m[k], rv.Field(i), depth+1); err != nil {
			return err
		}
	}
	return nil
}

// checkDepth bounds the nesting of a value kept as given.
func checkDepth(ptr string, v any, depth int) error {
	if depth > maxDepth {
		return fieldErr(ptr, fmt.Sprintf("nested deeper than %d levels", maxDepth))
	}
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if err := checkDepth(ptr+"/"+escape(k), e, depth+1); err != nil {
				return err
			}
		}
	case []any:
		for i, e := range x {
			if err := checkDepth(ptr+"/"+strconv.Itoa(i), e, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

func typeErr(ptr, want string, got any) error {
	return fieldErr(ptr, fmt.Sprintf("must be %s, not %s", want, kindOf(got)))
}

func kindOf(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "a list"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "null"
}

// typeName names a model type as the GS does (TrafficRule, not mp1api.TrafficRule).
func typeName(t reflect.Type) string { return t.Name() }
