// Package upgwapi holds the UPGW control API models, echo server interface and client
// generated from api/openapi/upgw.yaml. Do not edit the generated file.
package upgwapi

//go:generate go tool oapi-codegen -config cfg.yaml ../../api/openapi/upgw.yaml
