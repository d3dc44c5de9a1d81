# shellcheck shell=bash
# Sourced by scripts/run.sh and scripts/test.sh (not run on its own): makes `cargo`
# available in this shell, installing Rust with rustup when the machine has none
# (Debian 12's own rustc is too old for this crate). Set AUDIOTAP_NO_RUSTUP=1 to forbid
# the install and fail with instructions instead.
#
#   source scripts/ensure-rust.sh                  # cargo on PATH
#   ensure_rust_components rustfmt clippy          # and these rustup components

_audiotap_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

_cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
if ! command -v cargo >/dev/null 2>&1 && [[ -x "$_cargo_bin/cargo" ]]; then
  export PATH="$_cargo_bin:$PATH"
fi

if ! command -v cargo >/dev/null 2>&1; then
  if [[ "${AUDIOTAP_NO_RUSTUP:-0}" == "1" ]]; then
    echo "error: cargo not found. Install Rust (1.94 or newer) from https://rustup.rs" >&2
    exit 1
  fi
  echo "==> cargo not found: installing the stable Rust toolchain with rustup into ${_cargo_bin%/bin}"
  "$_audiotap_root/scripts/system-packages.sh" install rustup
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
    sh -s -- -y --no-modify-path --profile minimal --default-toolchain stable \
      --component rustfmt --component clippy
  export PATH="$_cargo_bin:$PATH"
fi

# ensure_rust_components NAME... : make `cargo fmt` / `cargo clippy` work, adding the
# rustup component when it is missing (needs rustup and access to static.rust-lang.org).
ensure_rust_components() {
  local c sub
  for c in "$@"; do
    case "$c" in
      rustfmt) sub=fmt ;;
      clippy) sub=clippy ;;
      *) echo "ensure_rust_components: unknown component $c" >&2; return 2 ;;
    esac
    if ! cargo "$sub" --version >/dev/null 2>&1; then
      if command -v rustup >/dev/null 2>&1; then
        echo "==> cargo $sub missing: rustup component add $c"
        rustup component add "$c"
      fi
      if ! cargo "$sub" --version >/dev/null 2>&1; then
        echo "error: 'cargo $sub' is not available; install it with: rustup component add $c" >&2
        return 1
      fi
    fi
  done
}
