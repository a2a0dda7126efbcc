// Package meoapi holds the models, strict echo server interface and client of the MEO's own
// inventory API, generated from api/openapi/meo.yaml. Do not edit the generated file.
package meoapi

//go:generate go tool oapi-codegen -config cfg.yaml ../../api/openapi/meo.yaml
