# loop-tournament entry points. `make help` lists them.
CARGO ?= cargo
RUN   := $(CARGO) run --release --quiet -p tournament --

.PHONY: help test bench-quick bench-full smoke list report loom miri fmt clippy

help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

test: ## Run every test: unit tests, conformance suites, harness and report tests.
	$(CARGO) test --workspace

bench-quick: ## Every contender on every workload, quick parameters (≥5 samples/cell), into results/<run-id>/.
	$(RUN) run --quick

bench-full: ## The complete matrix with full parameters, into results/<run-id>/.
	$(RUN) run --full

smoke: ## Tiny tournament run (1 sample) into a temporary folder; checks the outputs (what CI runs).
	scripts/smoke.sh

list: ## List contenders (capabilities) and workloads (parameters, timed scope).
	$(RUN) list

report: ## Regenerate summary.csv and SUMMARY.md of DIR from its raw.jsonl: make report DIR=results/<run-id>
	@test -n "$(DIR)" || { echo "usage: make report DIR=results/<run-id>"; exit 2; }
	$(RUN) report $(DIR)

loom: ## Model-check every loop's sleep/wake handshake with loom (crates/*/tests/loom_*.rs).
	@set -e; for t in crates/*/tests/loom_*.rs; do \
	  pkg=$$(sed -n 's/^name = "\(.*\)"/\1/p' $$(dirname $$(dirname $$t))/Cargo.toml | head -1); \
	  echo "loom: $$pkg $$(basename $$t .rs)"; \
	  RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom $(CARGO) test --release -p $$pkg --test $$(basename $$t .rs); \
	done

miri: ## Run the unit tests of crates with unsafe code under Miri (needs the nightly miri component).
	scripts/miri.sh

fmt: ## Format the workspace.
	$(CARGO) fmt --all

clippy: ## Lint every target.
	$(CARGO) clippy --workspace --all-targets
