#!/bin/bash
# Refresh the browser files vendored from npm into static/vendor/ (committed, so that `make run`
# and `make test` never need npm or the network). Installs exactly what package-lock.json records,
# copies the built browser files with their licences, and checks that the .wasm is the one the
# JavaScript glue was built for.
#
#   tools/npm/refresh.sh                     # re-vendor the locked version
#   tools/npm/refresh.sh zxing-wasm@3.1.7    # move to another version (updates the manifest and lock)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"
command -v npm >/dev/null || { echo "refresh.sh needs npm (Node.js 20+)" >&2; exit 1; }
if [ $# -gt 0 ]; then
  npm install --ignore-scripts --no-audit --no-fund --save-exact "$@"
fi
npm ci --ignore-scripts --no-audit --no-fund

src="$here/node_modules/zxing-wasm"
out="$root/static/vendor/zxing-wasm"
version="$(node -p "require('$src/package.json').version")"
mkdir -p "$out"
# The reader only (QR and the other symbologies, no writer): an IIFE that defines window.ZXingWASM.
cp "$src/dist/iife/reader/index.js" "$out/zxing-reader.js"
cp "$src/dist/reader/zxing_reader.wasm" "$out/zxing_reader.wasm"
cp "$src/LICENSE" "$out/LICENSE"

# The glue states the SHA-256 of the .wasm it expects; refuse a mismatched pair.
want="$(grep -o 'ZXING_WASM_SHA256=`[0-9a-f]*`' "$out/zxing-reader.js" | grep -o '[0-9a-f]\{64\}')"
have="$(sha256sum "$out/zxing_reader.wasm" | cut -d' ' -f1)"
if [ "$want" != "$have" ]; then
  echo "zxing_reader.wasm has SHA-256 $have but zxing-reader.js expects $want" >&2
  exit 1
fi
# The ZXing-C++ commit compiled into the .wasm (the only 40-hex string of the glue).
cpp_commit="$(grep -o '`[0-9a-f]\{40\}`' "$out/zxing-reader.js" | tr -d '`' | head -1)"
# ZXing-C++'s licence is not in the npm package: it is the Apache License 2.0, kept beside it.
if [ ! -s "$out/LICENSE.zxing-cpp" ]; then
  if [ -r /usr/share/common-licenses/Apache-2.0 ]; then
    cp /usr/share/common-licenses/Apache-2.0 "$out/LICENSE.zxing-cpp"
  else
    echo "add the Apache License 2.0 text as $out/LICENSE.zxing-cpp" >&2
    exit 1
  fi
fi

cat > "$out/README.md" <<NOTE
# zxing-wasm $version (vendored)

The QR decoder of static/scan.js when the browser has no native BarcodeDetector.
Written by tools/npm/refresh.sh from the npm package zxing-wasm@$version
(https://github.com/Sec-ant/zxing-wasm); do not edit by hand.

| file | from the package | |
|---|---|---|
| zxing-reader.js | dist/iife/reader/index.js | the glue; defines window.ZXingWASM |
| zxing_reader.wasm | dist/reader/zxing_reader.wasm | SHA-256 $have |
| LICENSE | LICENSE | zxing-wasm: MIT |
| LICENSE.zxing-cpp | (not in the package) | ZXing-C++ (commit $cpp_commit, compiled into the .wasm): Apache License 2.0 |

The .wasm is compiled by Emscripten, whose runtime (MIT or University of Illinois/NCSA) is part of the glue.
NOTE
echo "vendored zxing-wasm $version into ${out#"$root"/} (wasm sha256 $have)"
