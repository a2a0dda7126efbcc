// Package cli is mecctl, the operator CLI of the platform: commands on cobra, talking to the
// MEO, the MEPs and the UPGWs only through the generated API clients (meo/mm1api,
// mep/mm5api, mep/mp1api, upgw/upgwapi). cmd/mecctl/main.go only calls Main.
//
// # Layers
//
//  1. Options (root.go): the global flags, each with an environment variable (MECCTL_ and the
//     flag name), resolved against a context of the config file (config.go) into a target
//     (clients.go): a normalised base URL, a token, an HTTP client with the CA, the TLS
//     setting and --request-timeout. One constructor per generated client (o.mm1, o.mm5,
//     o.mp1, o.upgw) is the only place a client is built.
//  2. Commands (package.go, lcm.go, inventory.go, site.go, upgw.go, config_cmd.go, version.go): each calls the
//     generated client, passes the answer through target.check (a transport error becomes
//     a *ConnError, a non-2xx answer an *APIError holding the ProblemDetails), and turns the
//     result into a View.
//  3. Output (output.go): a View carries the objects (json, yaml; secrets hidden unless
//     --show-secrets), the table rows with their wide columns, and the names (-o name), so
//     every command honours every -o format by construction.
//  4. Input (input.go): decodeInput reads YAML or JSON into the API's Go type to find unknown
//     fields (with line, column and a "did you mean"), and sends the document itself.
//  5. Errors (errors.go): ExitCode maps every error to the documented exit codes; waitFor
//     (wait.go) is the one follow loop, ending in a *TimeoutError or a *FailedError.
//
// # The MEO's app LCM
//
// The site inventory (/inventory/v1/sites, meo/meoapi) is in inventory.go. The Mm1 app LCM
// (/app_lcm/v1, meo/mm1api) is in lcm.go: newAppCommand (app
// create|instantiate|operate|terminate|delete|list|get) and newOpOccCommand (opocc
// list|get|retry|fail|cancel), through o.mm1(). A 202 answer's Location names the op
// occurrence; followOpOcc polls it with waitFor until COMPLETED, or FAILED, FAILED_TEMP or
// ROLLED_BACK (a *FailedError with the occurrence's error ProblemDetails, exit 4); --watch
// prints each state and the placement decision (chosen site, rejected sites with reasons).
//
// SITE in the per-site views resolves through the context only: the inventory never returns
// a MEP's token, so a site the context does not list needs --mep and a token. Options.site
// is the one place to change that.
//
// `mecctl site upgw trace` (upgw.go) streams GET /upgw/v1/trace through upgw/tracefmt.
package cli
