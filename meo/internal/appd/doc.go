// Package appd holds the application descriptor (AppD) of a MEC application package: the
// ETSI GS MEC 010-2 AppD data model with the GS MEC 037 field names, its parser, and the two
// values the orchestrator derives from it when an app is instantiated on a site: the
// vim.DeployRequest for the site's VIM adapter and the Mm5 app instance body for the site's
// MEP.
//
// # Accepted forms
//
// Parse takes the AppD as JSON or YAML and decodes it strictly:
//
//  1. Every value must have the type the model gives it (a YAML `version: 1.0` is a number,
//     not a string: quote it), every enum value must be one the model lists, and unknown
//     members are rejected (a misspelt `appTraficRule` must not silently drop rules). Members
//     whose name starts with "x-" are vendor extensions and are ignored.
//  2. Where versions of the specification differ, both forms are accepted: one
//     swImageDescriptor object or a list of them (the first is the app's image),
//     mecVersion as one string or a list, and a traffic rule's dstInterface as one object
//     (V2.1.1) or a list (V2.2.1).
//  3. A TOSCA-based AppD (GS MEC 037 TOSCA, see tosca.go for the subset) is recognised by its
//     tosca_definitions_version member and mapped onto the same model.
//
// Then the AppD is checked: required members (appDId, appName, appProvider, appSoftVersion,
// appDVersion, mecVersion), appDId by the platform's id rule (internal/ids: a lowercase DNS
// label, because the appDId keys the package and labels the app's objects on every VIM), the
// traffic and DNS rules with the platform's one rule check (internal/mecrule, which the MEP
// and the UPGW apply to the same rules), unique rule ids, and bounds on list sizes.
//
// Every error names the offending member by JSON pointer (RFC 6901), as in
// "/appTrafficRule/0/action: ...", is a *FieldError, and matches ErrInvalid.
package appd
