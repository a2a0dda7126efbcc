// Package mm5server holds the Mm5 (MEO → MEP management) echo and strict server interfaces
// generated from api/openapi/mm5.yaml, over the models of package mm5api. Only the MEP's HTTP
// edge imports it; clients import mm5api alone. Do not edit the generated file.
package mm5server

//go:generate go tool oapi-codegen -config cfg.yaml ../../../api/openapi/mm5.yaml
