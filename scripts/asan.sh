#!/usr/bin/env bash
# make asan: AddressSanitizer (with LeakSanitizer) over the unit and integration tests
# (conformance suite included) of the crates whose own code has `unsafe` blocks — the same crates
# as scripts/memcheck.sh — when a nightly toolchain is installed (`-Zsanitizer` is nightly only).
# Without one it says so and exits 0: skipped, never silently.
#
# The standard library is not rebuilt with the sanitizer (`-Zbuild-std` needs the rust-src
# component, which a machine without the toolchain server cannot add), so only our crates and
# their dependencies are instrumented: ASan still catches their out-of-bounds accesses, uses after
# free and double frees, and LeakSanitizer every leak; `-Cunsafe-allow-abi-mismatch=sanitizer`
# lets them link against the uninstrumented std. `--target` keeps build scripts and proc macros
# (which run on the host at build time) out of the instrumentation.
#
# The conformance checks run at quick scale with their wait bounds multiplied by 5: ASan code
# runs about 2-3x slower and a merely slow wait must not read as a hang. loom models are skipped
# (without --cfg loom they compile to nothing).
#
# Exit 0 clean (or SKIPPED), non-zero when a test fails or the sanitizer reports an error.
set -euo pipefail
cd "$(dirname "$0")/.."

# As scripts/memcheck.sh picks them: loop-conformance only wraps libc calls and runs inside the
# others' conformance tests.
pkg_flags=()
for p in $(scripts/unsafe_packages.sh conformance); do pkg_flags+=(-p "$p"); done

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "asan: SKIPPED — no nightly toolchain here (-Zsanitizer=address is nightly only; rustup toolchain install nightly). Crates that would run: ${pkg_flags[*]}"
  exit 0
fi
host=$(rustc +nightly -vV | sed -n 's/^host: //p')
runtime="$(rustc +nightly --print sysroot)/lib/rustlib/$host/lib/librustc-nightly_rt.asan.a"
if [ ! -e "$runtime" ]; then
  echo "asan: SKIPPED — the nightly toolchain has no AddressSanitizer runtime for $host ($runtime)"
  exit 0
fi

# Which flags this nightly needs to link sanitized crates against the uninstrumented std (newer
# nightlies refuse the mix without -Cunsafe-allow-abi-mismatch; older ones do not know that flag):
# probe by building and running a program with a deliberate use after free, which must be reported.
probe_dir=$(mktemp -d)
trap 'rm -rf "$probe_dir"' EXIT
cat > "$probe_dir/probe.rs" <<'RUST'
fn main() {
    let b = Box::new(7_u64);
    let p: *const u64 = &*b;
    drop(b);
    // SAFETY: none: the read of freed memory is the point, the sanitizer must report it.
    std::process::exit(unsafe { std::ptr::read_volatile(p) } as i32);
}
RUST
flags=""
for candidate in "-Zsanitizer=address -Cunsafe-allow-abi-mismatch=sanitizer" "-Zsanitizer=address"; do
  # shellcheck disable=SC2086
  if rustc +nightly $candidate --target "$host" -o "$probe_dir/probe" "$probe_dir/probe.rs" 2>/dev/null; then
    flags=$candidate
    break
  fi
done
if [ -z "$flags" ]; then
  echo "asan: SKIPPED — this nightly ($(rustc +nightly --version)) cannot build a sanitized program for $host"
  exit 0
fi
# The probe exits non-zero when the sanitizer catches it: keep its output, not its status.
probe_out=$("$probe_dir/probe" 2>&1 || true)
if grep -q "heap-use-after-free" <<<"$probe_out"; then
  echo "asan: the probe's deliberate use after free was reported (flags: $flags)"
else
  echo "asan: the probe's deliberate use after free was NOT reported with $flags: the lane would prove nothing" >&2
  exit 1
fi

echo "asan: $(cargo +nightly --version), target $host, crates: ${pkg_flags[*]}"
export RUSTFLAGS="$flags ${RUSTFLAGS:-}"
export CARGO_TARGET_DIR=${ASAN_TARGET_DIR:-target/asan}
# abort_on_error: a report ends the binary with a failure even inside a caught panic.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1}
export LOOP_CONFORMANCE_SCALE=quick LOOP_CONFORMANCE_SLOWDOWN=5
# Unit tests and integration tests; the loom models compile to nothing without --cfg loom.
cargo +nightly test --target "$host" "${pkg_flags[@]}" --lib --tests -- --test-threads 2
echo "asan: clean (no sanitizer report, every test passed)"
