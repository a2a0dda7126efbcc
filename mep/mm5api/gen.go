// Package mm5api holds the Mm5 (MEO → MEP management) models and client generated from
// api/openapi/mm5.yaml; the server side is package mm5server. Do not edit the generated file.
package mm5api

//go:generate go tool oapi-codegen -config cfg.yaml ../../api/openapi/mm5.yaml
