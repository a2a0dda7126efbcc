// Package mp1server holds the Mp1 (ETSI GS MEC 011) echo and strict server interfaces
// generated from api/openapi/mp1.yaml, over the models of package mp1api. Only the MEP's HTTP
// edge imports it; clients import mp1api alone. Do not edit the generated file.
package mp1server

//go:generate go tool oapi-codegen -config cfg.yaml ../../../api/openapi/mp1.yaml
