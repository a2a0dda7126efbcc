// Package openapi embeds the project's API specifications, the source of truth from which
// servers and clients are generated, so that binaries can read facts from them at run time
// (for example the query parameters each route accepts).
package openapi

import _ "embed"

// MP1 is api/openapi/mp1.yaml (ETSI GS MEC 011 Mp1).
//
//go:embed mp1.yaml
var MP1 []byte

// MM5 is api/openapi/mm5.yaml (MEO → MEP management).
//
//go:embed mm5.yaml
var MM5 []byte

// MM1 is api/openapi/mm1.yaml (ETSI GS MEC 010-2 Mm1, served by the MEO).
//
//go:embed mm1.yaml
var MM1 []byte

// MEO is api/openapi/meo.yaml (the MEO's edge-site inventory API).
//
//go:embed meo.yaml
var MEO []byte

// AF is api/openapi/af.yaml (the notifications the MEO receives as a 3GPP Application
// Function from the sites' NEFs).
//
//go:embed af.yaml
var AF []byte
