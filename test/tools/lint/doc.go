// Module lint pins golangci-lint for `make lint`. It is a module of its own so that the
// linter's many dependencies stay out of the product's go.mod; the rules are in
// .golangci.yml at the repository root.
package lint
