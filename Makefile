# Run `make help` for the targets. The README's two set-up commands are `make demo` and `make test`.
SHELL := /bin/bash
GO    ?= go

.PHONY: help build images generate verify lint test test-unit bench fuzz demo demo-down

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

build: ## build every binary into ./bin
	$(GO) build -o bin/ ./cmd/...

images: ## container image tarballs of every binary into bin/images (IMAGE_TAG, GOARCH; see deploy/images)
	bash deploy/images/build.sh

generate: ## regenerate committed code (OpenAPI servers/clients, BPF objects)
	bash test/deps.sh
	$(GO) generate ./...

verify: generate lint ## fail if generated code, go.mod or formatting are not clean
	$(GO) mod tidy
	git diff --exit-code -- . ':(exclude).ci' || { echo "verify: run 'make generate' and 'go mod tidy' and commit the result" >&2; exit 1; }

lint: ## gofmt, go vet and golangci-lint (.golangci.yml; pinned in test/tools/lint), all build tags
	@out=$$(gofmt -l $$(git ls-files '*.go')); [ -z "$$out" ] || { echo "gofmt: $$out" >&2; exit 1; }
	$(GO) vet -tags integration,e2e ./...
	cd test/tools/lint && $(GO) build -o $(CURDIR)/bin/golangci-lint github.com/golangci/golangci-lint/v2/cmd/golangci-lint
	bin/golangci-lint run ./...

test: ## run every test: unit, PostgreSQL, Kubernetes test bed, XDP/netns end-to-end
	bash test/run.sh

test-unit: ## fast tests only (no root, no infrastructure)
	$(GO) test ./...

bench: ## print the performance figures (see README)
	bash test/bench.sh

fuzz: ## run every fuzz target briefly (FUZZTIME, default 10s)
	bash test/fuzz.sh

demo: ## the MEO, two edge sites and an app through its life cycle, driven with mecctl (KEEP=1 leaves it running; see deploy/demo/README.md)
	bash deploy/demo/demo.sh

demo-down: ## stop what `KEEP=1 make demo` left running and undo its changes to the host
	bash deploy/demo/demo.sh down
