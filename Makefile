# loop-tournament entry points. `make help` lists them.
CARGO ?= cargo
RUN   := $(CARGO) run --release --quiet -p tournament --

.PHONY: help deps test first-look bench-quick bench-full smoke list report validate compare bench-ab bench-slowed calibrate instructions merge index loom miri memcheck asan soak fmt clippy

help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-13s %s\n", $$1, $$2}'

deps: ## Install wrk (drives the http workload) and libuv (the libuv peer) with apt-get; says what to do instead when not root or without apt-get.
	@missing=""; \
	if command -v wrk >/dev/null 2>&1; then echo "deps: wrk is installed ($$(command -v wrk))"; else missing="wrk"; fi; \
	if ldconfig -p 2>/dev/null | grep -q 'libuv\.so\.1 '; then echo "deps: libuv is installed (libuv.so.1)"; else missing="$$missing libuv1"; fi; \
	if [ -z "$$missing" ]; then \
	  true; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
	  echo "deps: skipped: no apt-get here; install$$missing with your package manager (until then their cells are declared gaps)"; \
	elif [ "$$(id -u)" != 0 ]; then \
	  echo "deps: skipped: not root; run 'sudo apt-get install -y$$missing' (until then their cells are declared gaps)"; \
	else \
	  apt-get update && apt-get install -y $$missing; \
	fi

test: ## Run every test: unit tests, conformance suites, harness and report tests.
	$(CARGO) test --workspace

first-look: ## About a minute once built: main, baseline and tokio-ct on ping-pong, ping-pong-latency and burst, 5 samples per cell, into results/<run-id>/.
	$(RUN) run --quick --samples 5 --contenders main,baseline,tokio-ct --workloads ping-pong,ping-pong-latency,burst

bench-quick: ## Every contender on every workload, quick parameters (≥5 samples/cell), into results/<run-id>/.
	$(RUN) run --quick

bench-full: ## The complete matrix with full parameters, into results/<run-id>/ (resume an interrupted one: make bench-full RESUME=results/<run-id>).
	$(RUN) run --full $(if $(RESUME),--resume $(RESUME))

smoke: ## Tiny tournament run (1 sample) into a temporary folder; checks the outputs (what CI runs).
	scripts/smoke.sh

list: ## List contenders (capabilities) and workloads (parameters, timed scope).
	$(RUN) list

report: ## Regenerate summary.csv, SUMMARY.md and plots/ of DIR from its raw.jsonl, then validate: make report DIR=results/<run-id>
	@test -n "$(DIR)" || { echo "usage: make report DIR=results/<run-id>"; exit 2; }
	$(RUN) report $(DIR)

validate: ## Check run folders (default: every results/*/ holding a raw.jsonl or raw.jsonl.gz): make validate [DIR=results/<run-id>]
	@set -e; dirs="$(DIR)"; [ -n "$$dirs" ] || dirs=$$(for d in results/*/; do { [ -f "$$d/raw.jsonl" ] || [ -f "$$d/raw.jsonl.gz" ]; } && echo "$${d%/}"; done); \
	for d in $$dirs; do $(RUN) validate "$$d"; done

compare: ## Regression comparison (exit 1 on a regression, 2 if refused): make compare BASE=<dir> NEW=<dir> [THRESHOLD=5%] [DESCRIPTIVE=1]
	@test -n "$(BASE)" -a -n "$(NEW)" || { echo "usage: make compare BASE=results/<old> NEW=results/<new> [THRESHOLD=5%]"; exit 2; }
	$(RUN) compare $(BASE) $(NEW) --threshold $(or $(THRESHOLD),5%) $(if $(DESCRIPTIVE),--descriptive)

bench-ab: ## Same-machine A/B: build REV and this tree, alternate their quick suites, compare (the CI gate): make bench-ab REV=<git-rev>
	@test -n "$(REV)" || { echo "usage: make bench-ab REV=<git-rev>"; exit 2; }
	scripts/bench-ab.sh $(REV)

bench-slowed: ## Quick run of a deliberately slowed build (feature slow-test: SLOW_TEST_NS ns per task paid by main's loop thread, default 500, on ping-pong/burst) into OUT
	@test -n "$(OUT)" || { echo "usage: make bench-slowed OUT=/tmp/slowed [SLOW_TEST_NS=3.2]"; exit 2; }
	CARGO_TARGET_DIR=target/slowed $(CARGO) run --release --quiet -p tournament --features slow-test -- run --quick --out $(OUT)

calibrate: ## Measure the method: A/A verdict agreement and false positives (sequential and interleaved), power at 2/5/10% injected slowdowns → results/calibration/CALIBRATION.md (~55 min, quiet machine; SKIP_AA=1 LEVELS=... re-measures levels only)
	scripts/calibrate.sh

instructions: ## Instruction counts (valgrind callgrind) of the loop-thread hot paths; skipped without valgrind
	scripts/instructions.sh

merge: ## Descriptive cross-host table of several runs: make merge DIRS="results/a results/b"
	@test -n "$(DIRS)" || { echo "usage: make merge DIRS=\"results/<host-a> results/<host-b>\""; exit 2; }
	$(RUN) merge $(DIRS)

index: ## Regenerate results/README.md, the index of the committed runs
	$(RUN) index results

loom: ## Model-check every loop's sleep/wake handshake with loom (crates/*/tests/loom_*.rs).
	@set -e; for t in crates/*/tests/loom_*.rs; do \
	  pkg=$$(sed -n 's/^name = "\(.*\)"/\1/p' $$(dirname $$(dirname $$t))/Cargo.toml | head -1); \
	  echo "loom: $$pkg $$(basename $$t .rs)"; \
	  RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom $(CARGO) test --release -p $$pkg --test $$(basename $$t .rs); \
	done

miri: ## Run the unit tests of crates with unsafe code under Miri (needs the nightly miri component).
	scripts/miri.sh

asan: ## AddressSanitizer + LeakSanitizer over the same tests as memcheck, on the nightly toolchain when installed (skipped with a message otherwise)
	scripts/asan.sh

memcheck: ## valgrind memcheck over the unit + conformance tests of the crates with unsafe code (loop-main, loop-alt-two, loop-alt-common); writes results/memcheck/{MEMCHECK.md,logs/} (about a minute once built; also run by .ci/run)
	scripts/memcheck.sh

soak: ## Conservation soak of every loop (ours and the peers) side by side (SECONDS, default 600) → results/soak/SOAK.md; exit 1 on any lost, doubled or leaked closure or lost readiness
	$(RUN) soak --seconds $(or $(SECONDS),600)

fmt: ## Format the workspace.
	$(CARGO) fmt --all

clippy: ## Lint every target.
	$(CARGO) clippy --workspace --all-targets
