#!/usr/bin/env bash
# Runs every test of Hookline: formatting, lints, unit and integration tests.
# Sets up what the tests need that cargo does not fetch: a Python virtualenv with the
# `standardwebhooks` verifier (used by the signature tests' receivers) and `prometheus_client`
# (whose parsers read /metrics), from tests/requirements.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import standardwebhooks, prometheus_client' 2>/dev/null; then
  echo "==> setting up $venv from tests/requirements.txt"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/requirements.txt
fi
export HOOKLINE_TEST_PYTHON="$PWD/$venv/bin/python"

# The Node receiver guide (examples/node) verifies deliveries with the standardwebhooks package.
if command -v npm >/dev/null 2>&1; then
  if [ ! -d examples/node/node_modules/standardwebhooks ]; then
    echo "==> npm ci in examples/node"
    (cd examples/node && npm ci --no-audit --no-fund --loglevel=error)
  fi
elif [ "${CI:-}" = "true" ]; then
  echo "CI=true but npm is missing: the Node receiver example cannot be tested" >&2
  exit 1
fi

# PostgreSQL for tests/postgres.rs: a throwaway cluster of Debian's postgresql package (or the
# server HOOKLINE_TEST_DATABASE_URL already names), stopped and removed when this script ends.
if [ -z "${HOOKLINE_TEST_DATABASE_URL:-}" ]; then
  if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1; then
    echo "==> a throwaway PostgreSQL (scripts/pg-throwaway.sh)"
    eval "$(scripts/pg-throwaway.sh start)"
    trap 'scripts/pg-throwaway.sh stop "$HOOKLINE_PG_DIR"' EXIT
  elif [ "${CI:-}" = "true" ]; then
    echo "CI=true but PostgreSQL is missing: install Debian's postgresql package (.ci/run does)" >&2
    exit 1
  else
    echo "note: no PostgreSQL found; tests/postgres.rs will say it did not run (install Debian's postgresql)" >&2
  fi
fi

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --all-targets --locked -- -D warnings

echo "==> examples"
cargo build --locked --examples

echo "==> tests"
# nextest runs every test in a process of its own, which some tests rely on (process-wide
# counters and umask); cargo test is only a fallback for a quick local run.
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --locked --no-fail-fast "$@"
  if [ -n "${HOOKLINE_TEST_DATABASE_URL:-}" ] && [ "$#" -eq 0 ]; then
    echo "==> tests/api again, each app on its own PostgreSQL database"
    # Left out: the tests in tests/api/sqlite_only.txt, and the modules that start the
    # binary themselves with a backend of their choice (they ran above).
    skip=$(grep -v '^#' tests/api/sqlite_only.txt | cut -f1 | grep . | sed 's/.*/test(=&)/' | paste -sd'|' -)
    HOOKLINE_TEST_BACKEND=postgres cargo nextest run --locked --no-fail-fast --test api \
      -E "not ($skip | test(/^(cluster|bench|binary)::/))"
  fi
elif [ "${CI:-}" = "true" ]; then
  echo "CI=true but cargo-nextest is missing: install it with cargo install cargo-nextest --locked" >&2
  exit 1
else
  echo "note: cargo-nextest is missing; falling back to cargo test (install it for the real run)" >&2
  cargo test --locked --no-fail-fast -- --test-threads=1 "$@"
fi
