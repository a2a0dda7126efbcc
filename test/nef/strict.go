package nef

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// strictUnmarshal decodes exactly one JSON value into v with unknown members refused.
// Member names must match exactly: encoding/json's DisallowUnknownFields still folds case,
// so "trafficroutes" would fill trafficRoutes, which a NEF built from the OpenAPI schema
// refuses.
func strictUnmarshal(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the JSON value")
	}
	return checkNames(raw, reflect.TypeOf(v), "")
}

func checkNames(raw json.RawMessage, t reflect.Type, at string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		var members map[string]json.RawMessage
		if err := json.Unmarshal(raw, &members); err != nil {
			return nil
		}
		names := map[string]reflect.Type{}
		for i := range t.NumField() {
			f := t.Field(i)
			if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); f.IsExported() && name != "-" && name != "" {
				names[name] = f.Type
			}
		}
		for k, v := range members {
			ft, ok := names[k]
			if !ok {
				return fmt.Errorf("unknown member %s/%s", at, k)
			}
			if err := checkNames(v, ft, at+"/"+k); err != nil {
				return err
			}
		}
	case reflect.Slice:
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil
		}
		for i, v := range items {
			if err := checkNames(v, t.Elem(), fmt.Sprintf("%s/%d", at, i)); err != nil {
				return err
			}
		}
	}
	return nil
}
