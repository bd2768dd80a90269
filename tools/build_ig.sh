#!/usr/bin/env bash
# Build the MHS implementation guide: SUSHI compiles ig/input/fsh/*.fsh (with ig/sushi-config.yaml)
# into ig/fsh-generated/resources/*.json, which are committed so the server and its tests need no
# Node. Then records ig/fsh-generated/sources.sha256, which tests/ig/test_ig_build.py compares with
# the sources to catch a stale build.
#
#   tools/build_ig.sh          (or: make ig)
#
# Needs Node.js >= 18 and npm. SUSHI (fsh-sushi, pinned in ig/package.json and
# ig/package-lock.json) is installed into ig/node_modules on the first run (npm registry); later
# runs are offline. The FHIR core package hl7.fhir.r4.core 4.0.1 is unpacked into the FHIR package
# cache (~/.fhir/packages) from ../shared/data/fhir-packages/, since the FHIR package registry is
# not reachable. SUSHI must finish with 0 errors and 0 warnings (offline warnings it may ignore
# are listed, with why, in ig/sushi-ignoreWarnings.txt).
#
# Source digest (sources.sha256): the SHA-256 of the lines "<sha256 of file>  <path>\n" of every
# source, sorted by path, paths relative to ig/ (LC_ALL=C order). The sources are
# input/fsh/**/*.fsh and sushi-config.yaml.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
IG="$ROOT/ig"
CORE_TGZ="${MHS_FHIR_CORE_PACKAGE:-$ROOT/../shared/data/fhir-packages/hl7.fhir.r4.core-4.0.1.tgz}"
CORE_DIR="$HOME/.fhir/packages/hl7.fhir.r4.core#4.0.1"
SUSHI="$IG/node_modules/.bin/sushi"

die() {
    echo "build_ig: error: $*" >&2
    exit 1
}

# 0. Tools.
command -v node >/dev/null 2>&1 || die "Node.js is not on PATH (SUSHI needs Node.js >= 18)"
command -v npm >/dev/null 2>&1 || die "npm is not on PATH"
command -v sha256sum >/dev/null 2>&1 || die "sha256sum is not on PATH"

# 1. SUSHI, at the version ig/package-lock.json pins.
pinned="$(node -p "require('$IG/package-lock.json').packages['node_modules/fsh-sushi'].version")"
installed=""
if [ -x "$SUSHI" ]; then
    installed="$(node -p "require('$IG/node_modules/fsh-sushi/package.json').version" 2>/dev/null || true)"
fi
if [ "$installed" != "$pinned" ]; then
    echo "build_ig: installing fsh-sushi $pinned into ig/node_modules (npm ci)"
    npm ci --prefix "$IG" --no-audit --no-fund --loglevel=error ||
        die "npm ci failed: the npm registry is needed once, to install fsh-sushi $pinned"
fi

# 2. The FHIR core package, from the local copy.
if [ ! -f "$CORE_DIR/package/package.json" ]; then
    [ -f "$CORE_TGZ" ] || die "the FHIR core package is not in $CORE_DIR and its local copy
  $CORE_TGZ
is missing (the FHIR package registry is not reachable from here). Put hl7.fhir.r4.core-4.0.1.tgz
there, or point MHS_FHIR_CORE_PACKAGE at it."
    echo "build_ig: unpacking hl7.fhir.r4.core 4.0.1 into $CORE_DIR"
    mkdir -p "$CORE_DIR"
    tar -xzf "$CORE_TGZ" -C "$CORE_DIR" ||
        { rm -rf "$CORE_DIR"; die "could not unpack $CORE_TGZ"; }
fi

# 3. SUSHI, into a scratch folder: a failed build leaves the committed output as it was.
BUILD="$IG/.build"
rm -rf "$BUILD"
mkdir -p "$BUILD"
LOG="$BUILD/sushi.log"
status=0
(cd "$IG" && "$SUSHI" build . --out "$BUILD/out") 2>&1 | tee "$LOG" || status=$?
summary="$(grep -E '[0-9]+ Errors?  *[0-9]+ Warnings?' "$LOG" || true)"
errors="$(sed -nE 's/.* ([0-9]+) Errors? .*/\1/p' <<<"$summary")"
warnings="$(sed -nE 's/.* ([0-9]+) Warnings? .*/\1/p' <<<"$summary")"
if [ "$status" -ne 0 ] || [ -z "$errors" ] || [ "$errors" != 0 ]; then
    die "SUSHI failed (exit $status, ${errors:-?} errors): see the log above; ig/fsh-generated is unchanged"
fi
if [ "$warnings" != 0 ]; then
    die "SUSHI reported $warnings warnings: fix them (or, if one cannot be fixed, list it with why
in ig/sushi-ignoreWarnings.txt); ig/fsh-generated is unchanged"
fi
[ -d "$BUILD/out/fsh-generated/resources" ] || die "SUSHI wrote no resources"

# 4. Swap the new output in, and record the digest of its sources.
rm -rf "$IG/fsh-generated"
mv "$BUILD/out/fsh-generated" "$IG/fsh-generated"
digest="$(
    cd "$IG" &&
        { find input/fsh -type f -name '*.fsh'; echo sushi-config.yaml; } |
        LC_ALL=C sort |
        while IFS= read -r path; do
            printf '%s  %s\n' "$(sha256sum <"$path" | cut -d' ' -f1)" "$path"
        done |
        sha256sum | cut -d' ' -f1
)"
echo "$digest" >"$IG/fsh-generated/sources.sha256"
rm -rf "$BUILD"
count="$(find "$IG/fsh-generated/resources" -name '*.json' | wc -l)"
echo "build_ig: wrote $count resources to ig/fsh-generated/resources (sources sha256 $digest)"
