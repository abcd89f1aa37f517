# Front door for developers and CI. Every target is idempotent; downloads are cached (~/.m2, Go and pip caches).
#   make up      set up the toolchain, start the infrastructure (Kafka, Cassandra, Aeron media driver), apply the
#                schema, start the services (matcher, UBSCore, Settlement, gateway, REST proxy), each waited on
#                until healthy, and print the endpoints (options: tools/README.md)
#   make test    static checks, then every test suite against the running stack
#   make status  every process: pid, state, health, lag, log
#   make run     the same as `up` in the foreground, every log streamed with its name; Ctrl-C stops it all
#   make down    stop the services, then the infrastructure
PYTHON ?= .venv/bin/python
VENV_STAMP := .venv/.installed-stamp

.PHONY: setup up down status run logs test check lint gen gen-check breaking contract-publish unit integration e2e demo invariants bench clean

$(VENV_STAMP): pyproject.toml
	tools/preflight.sh
	python3 -m venv .venv
	.venv/bin/pip install --quiet --upgrade pip
	.venv/bin/pip install --quiet -e '.[dev]'
	touch $(VENV_STAMP)

setup: $(VENV_STAMP)
	tools/preflight.sh
	$(PYTHON) -m tools.infra.gotools
	go build -o .local/bin/exchange-rest ./gateway/rest

up: setup
	bin/stack up

down:
	bin/stack down

status:
	bin/stack status

run: setup
	bin/stack run

logs:
	bin/stack logs

lint: $(VENV_STAMP)
	.venv/bin/ruff check .
	.venv/bin/buf lint

breaking: $(VENV_STAMP)
	tools/buf_breaking.sh

# Advance the published contract (contracts/baseline/, contracts/CHANGELOG.md) to the working tree's protos:
#   make contract-publish REASON="why"                 (version: info.version in contracts/openapi.yaml)
#   make contract-publish REASON="why" BREAKING=1      (declare a deliberate break; needs a new major version)
#   make contract-publish REASON="why" REPLACE=1       (redo the latest version before it was announced)
contract-publish: $(VENV_STAMP)
	$(PYTHON) -m tools.contracts publish --reason "$(REASON)" $(if $(BREAKING),--breaking) $(if $(REPLACE),--replace)

gen: setup
	$(PYTHON) -m tools.protogen

gen-check: setup
	$(PYTHON) -m tools.protogen --check

check: lint breaking gen-check

unit: $(VENV_STAMP)
	$(PYTHON) -m pytest tests/unit tests/property tests/contracts tests/simulation

integration: $(VENV_STAMP)
	$(PYTHON) -m pytest tests/integration

e2e: $(VENV_STAMP)
	$(PYTHON) -m pytest tests/e2e

demo: $(VENV_STAMP)
	$(PYTHON) -m tools.demo

invariants: $(VENV_STAMP)
	$(PYTHON) -m tools.invariants

test: check
	$(PYTHON) -m pytest

bench: $(VENV_STAMP)
	$(PYTHON) -m tools.bench

clean: down
	rm -rf .local .venv
