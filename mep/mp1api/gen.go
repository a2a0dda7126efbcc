// Package mp1api holds the Mp1 (ETSI GS MEC 011) models and client generated from
// api/openapi/mp1.yaml; the server side is package mp1server. Do not edit the generated file.
package mp1api

//go:generate go tool oapi-codegen -config cfg.yaml ../../api/openapi/mp1.yaml
