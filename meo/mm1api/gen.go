// Package mm1api holds the Mm1 (ETSI GS MEC 010-2) models, strict echo server interface and
// client generated from api/openapi/mm1.yaml. Do not edit the generated file.
package mm1api

//go:generate go tool oapi-codegen -config cfg.yaml ../../api/openapi/mm1.yaml
