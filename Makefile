# Every target works from a clean clone. Modules are listed from go.work, because
# `go test ./...` at the root of a workspace does not reach the modules.
SHELL := /bin/bash
# go.mod and go.work name the patched toolchain (toolchain go1.26.10); "auto"
# fetches it through the module proxy when the installed Go is older, even where
# the installation defaults to GOTOOLCHAIN=local.
export GOTOOLCHAIN ?= auto
MODULES := $(shell go list -f '{{.Dir}}' -m)
PKGS := $(addsuffix /...,$(MODULES))
BASE_URL ?= http://localhost:8080
SOAK_DURATION ?= 2m
FUZZTIME ?= 30s
STACK ?= dev
DEPLOY_TIMEOUT ?= 15m
# make plan: FORMAT=json for one JSON document, FORMAT=markdown for a CI summary; ASSUME="key=value key=value"
# changes the cost estimate's usage assumptions.
FORMAT ?= text
ASSUME ?=

.PHONY: help new-service remove-service test test-pg17 lint run tools standin stack stack-down smoke e2e soak bench fuzz deploy deploy-check plan plan-docs

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-15s %s\n", $$1, $$2}'

# make new-service NAME=x PATH=/api/x: make exports a command-line variable
# to its recipes, so PATH= would also hide go from them. The route is read
# from it and the shell's PATH put back (the environment's, as make <= 4.3
# gives it to $(shell)); ROUTE= does the same without the detour.
ROUTE ?=
DB ?=
ifeq ($(origin PATH),command line)
ROUTE := $(PATH)
override PATH := $(shell printenv PATH)
endif

new-service: ## Add a service: NAME=x [PATH=/api/x] [DB=yes] (apps/x, routing entry, Compose block, go.work)
	@command -v go >/dev/null || { echo "make new-service: go is not on PATH; give the route as ROUTE=/api/x" >&2; exit 2; }
	@mkdir -p out && go build -o out/newservice ./scripts/newservice
	@out/newservice add -name "$(NAME)" -path "$(ROUTE)" -db "$(DB)"
	@# The plan's diagram and cost in the docs follow the declaration.
	@$(MAKE) --no-print-directory plan-docs

remove-service: ## Undo new-service for NAME (the shop's own services are refused)
	@mkdir -p out && go build -o out/newservice ./scripts/newservice
	@out/newservice remove -name "$(NAME)"
	@$(MAKE) --no-print-directory plan-docs

# -race always: the services are concurrent by nature (leases, the sweeper, the
# breaker, the proxy), and a race found later costs more than the slower run.
test: ## Every module's tests with the race detector; starts a throwaway PostgreSQL (the host's, else Compose's image in Docker) unless TEST_DATABASE_URL is set
	@# A server that cannot start stops here, not as tests without a database.
	@if [ -z "$$TEST_DATABASE_URL" ]; then env=$$(scripts/test-postgres.sh) || exit $$?; eval "$$env"; fi; \
	go test -race -count=1 $(PKGS)

test-pg17: ## The database tests again on PostgreSQL 17 (Compose's image, in Docker): the host's server is Debian 12's 15
	@# Compose's image (the stand-in's name from .env or out/standin.env where no registry is reachable).
	@export PGTEST_IMAGE=$$(scripts/test-postgres.sh image) PGTEST_PORT=55433; eval "$$(scripts/test-postgres.sh)"; status=0; \
	docker exec fargateshop-pgtest-55433 postgres --version; \
	go test -race -count=1 ./platform/postgres/... ./apps/catalog/internal/postgres/... ./apps/orders/internal/postgres/... || status=$$?; \
	scripts/test-postgres.sh stop; exit $$status

lint: ## gofmt, go vet, staticcheck and govulncheck on every module, shellcheck on scripts/ and .ci/run
	scripts/lint.sh $(MODULES)

run: ## The shop on the host (edge on :8080); starts PostgreSQL unless DATABASE_URL is set
	scripts/run-host.sh

tools: ## Install Docker Compose v2, buildx, Chromium, PostgreSQL and shellcheck when missing
	scripts/install-tools.sh

standin: ## Build local stand-ins for the public images (Go, runtime, PostgreSQL, Jaeger) and name them in .env
	scripts/standin-images.sh

stack: ## Build the images, start the Compose stack and wait until every service is healthy
	scripts/stack.sh up

stack-down: ## Stop the Compose stack (the database volume is kept)
	scripts/stack.sh down

smoke: ## The smoke suite (API and browser) against BASE_URL
	SMOKE_BASE_URL=$(BASE_URL) go test -count=1 -tags smoke ./smoke/...

e2e: ## stack, smoke, fault checks and a short soak, then stack-down
	scripts/stack.sh e2e

soak: ## Fixed-rate load with faults against the running stack, then the invariants
	SOAK_DURATION=$(SOAK_DURATION) scripts/soak.sh

bench: ## The benchmark table of docs/performance.md
	scripts/bench.sh

fuzz: ## Every fuzz target for FUZZTIME each
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

deploy: ## pulumi up for STACK (default dev), then deploy-check; non-zero unless every service runs its new release
	@command -v pulumi >/dev/null || { echo "make deploy: the Pulumi CLI is not installed (https://www.pulumi.com/docs/install/)" >&2; exit 2; }
	@# The check runs even when pulumi up failed: a first deploy whose tasks
	@# never start times out in up, and the check then says why.
	@status=0; pulumi up --yes --stack $(STACK) || status=$$?; \
	$(MAKE) --no-print-directory deploy-check STACK=$(STACK) || { check=$$?; [ $$status -ne 0 ] || status=$$check; }; \
	exit $$status

deploy-check: ## Check that every service of STACK runs the task definition the last up registered, and say why not
	@command -v pulumi >/dev/null || { echo "make deploy-check: the Pulumi CLI is not installed" >&2; exit 2; }
	@mkdir -p out && go build -o out/deploycheck ./infra/deploycheck
	set -o pipefail; pulumi stack output --json --stack $(STACK) | out/deploycheck -timeout $(DEPLOY_TIMEOUT)

# The real program under the mock engine: no AWS account, no Pulumi CLI, no
# network. Built once into out/; later runs reuse Go's build cache.
plan: ## What STACK (dev, or a stack file) would create, its diagram, monthly cost and FSBP controls; FORMAT=json|markdown, ASSUME="k=v ..."
	@case "$(FORMAT)" in text|json|markdown) ;; *) echo "make plan: FORMAT=$(FORMAT): want text, json or markdown" >&2; exit 2;; esac
	@mkdir -p out && go build -o out/infra ./infra
	@out/infra plan -stack $(STACK) $(if $(filter-out text,$(FORMAT)),-$(FORMAT)) $(foreach a,$(ASSUME),-assume $(a))

plan-docs: ## Rewrite the generated diagrams and cost tables of docs/cloud.md and the totals in both READMEs
	@mkdir -p out && go build -o out/infra ./infra
	@for s in dev docs/Pulumi.prod.example.yaml; do \
	  out/infra plan -stack $$s -write-docs docs/cloud.md -write-docs README.md -write-docs README.pt-BR.md || exit $$?; \
	done
