#!/usr/bin/env bash
# Re-fetches the chat page's third-party browser libraries into static/vendor/.
#
# The page loads nothing from another origin (the CSP allows only 'self'), so the libraries are
# committed and embedded in the binary. This script is how they got there: it asks the npm
# registry for each package at a FIXED version, checks the tarball against the SHA-512 written
# below (the same integrity string npm's lock files use), and copies the built file, the licence
# and (for highlight.js) the two themes. To upgrade: change a version, run the script once with
# the old hash to see the new one in the error, review the diff of static/vendor/, then update
# the hash.
#
# Usage: scripts/vendor-frontend.sh   (needs npm; run from anywhere)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# name@version  sha512 (base64, as in package-lock.json "integrity")
PACKAGES=(
  "marked@18.2.1 ii4bxCTCqqwpT86XZWgJNs+ZnAIZksmLGYMViWA7PDIXYIeNo1x6cDdX3JOip9NM/cI6p8z57FxliACboTruMA=="
  "dompurify@3.4.18 ofe3wI/uNm68HInABYFJYqQxRw1EaKAjNdrFVKqjUY+UZurvNd2L/HuQe097s/4RivWiZyP6tT7aoT8atjfhwg=="
  "@highlightjs/cdn-assets@11.12.0 KvOKXODaiFmId9xaq3xc5xCL66wVLUuOngDbO9B/kewbFTqdGbn2nJxNhN3H5R1cgDTVj6R8vH0zgiNDEGjpDw=="
)

command -v npm >/dev/null || { echo "vendor-frontend: npm is required" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Fetches one package tarball, verifies it and unpacks it; prints the unpacked directory.
fetch() {
  local spec="$1" want="$2" tarball dir got
  tarball="$(cd "$work" && npm pack --silent "$spec" 2>/dev/null | tail -n 1)"
  got="$(openssl dgst -sha512 -binary "$work/$tarball" | base64 -w0)"
  if [[ "$got" != "$want" ]]; then
    echo "vendor-frontend: $spec has sha512-$got, expected sha512-$want" >&2
    exit 1
  fi
  dir="$work/${tarball%.tgz}"
  mkdir -p "$dir"
  tar -xzf "$work/$tarball" -C "$dir" --strip-components=1
  echo "$dir"
}

read -r spec hash <<<"${PACKAGES[0]}"; marked="$(fetch "$spec" "$hash")"
read -r spec hash <<<"${PACKAGES[1]}"; purify="$(fetch "$spec" "$hash")"
read -r spec hash <<<"${PACKAGES[2]}"; hljs="$(fetch "$spec" "$hash")"

out=static/vendor
rm -rf "$out"
mkdir -p "$out/marked" "$out/dompurify" "$out/highlight/styles"

# marked: the UMD build defines the global `marked` when loaded as a classic script.
cp "$marked/lib/marked.umd.js" "$marked/LICENSE" "$out/marked/"
# DOMPurify: dual-licensed (Apache-2.0 or MPL-2.0); both texts are kept.
cp "$purify/dist/purify.min.js" "$purify/LICENSE" "$out/dompurify/"
[[ -f "$purify/LICENSE-MPL" ]] && cp "$purify/LICENSE-MPL" "$out/dompurify/"
# highlight.js: the prebuilt browser bundle (common languages) and a light and a dark theme,
# which chat.html picks between with `media="(prefers-color-scheme: ...)"`.
cp "$hljs/highlight.min.js" "$hljs/LICENSE" "$out/highlight/"
cp "$hljs/styles/github.min.css" "$hljs/styles/github-dark.min.css" "$out/highlight/styles/"

{
  echo "# Vendored browser libraries"
  echo
  echo "Fetched by scripts/vendor-frontend.sh from the npm registry; do not edit by hand."
  echo
  for entry in "${PACKAGES[@]}"; do
    read -r spec hash <<<"$entry"
    echo "- \`$spec\` (sha512-$hash)"
  done
} >"$out/README.md"

echo "vendor-frontend: $(find "$out" -type f | wc -l) files in $out"
