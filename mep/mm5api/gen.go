// Package mm5api holds the Mm5 (MEO → MEP management) models, echo and strict server interfaces
// and client generated from api/openapi/mm5.yaml. Do not edit the generated file.
package mm5api

//go:generate go tool oapi-codegen -config cfg.yaml ../../api/openapi/mm5.yaml
