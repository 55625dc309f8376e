# Shared by scripts/run and scripts/test: install pinned tools when missing,
# build the front end. Every step is idempotent: a tool already at the pinned
# version is left alone. Nothing here downloads a binary from the web; tools
# come from crates.io, npm and Debian's apt (see docs/BUILD.md).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

TRUNK_VERSION="0.21.14"
ZBAR_VERSION="0.23.92"
# Recordings are remuxed (never transcoded) to WebM by Debian 12's ffmpeg.
FFMPEG_VERSION="5.1"
# wasm-bindgen-cli must equal the wasm-bindgen crate in Cargo.lock exactly.
WASM_BINDGEN_VERSION="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)"

export PATH="$HOME/.cargo/bin:$ROOT/tools/node_modules/.bin:$PATH"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-always}"

step() { printf '\n\033[1;34m==> %s\033[0m\n' "$*"; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

apt_install() {
  # Try without refreshing the index first: it is slow and usually current.
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/dev/null 2>&1 || {
    as_root apt-get update -qq >/dev/null
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >/dev/null
  }
}

ensure_wasm_target() {
  rustup target list --installed | grep -qx wasm32-unknown-unknown || {
    step "Adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  }
}

ensure_trunk() {
  if ! trunk --version 2>/dev/null | grep -q "trunk $TRUNK_VERSION"; then
    step "Installing Trunk $TRUNK_VERSION (about 7 minutes, once)"
    cargo install --locked trunk --version "$TRUNK_VERSION"
  fi
}

ensure_wasm_bindgen() {
  [ -n "$WASM_BINDGEN_VERSION" ] || die "cannot read the wasm-bindgen version from Cargo.lock"
  grep -q "wasm_bindgen = \"$WASM_BINDGEN_VERSION\"" Trunk.toml ||
    die "Trunk.toml pins a wasm_bindgen other than Cargo.lock's $WASM_BINDGEN_VERSION; update Trunk.toml"
  if ! wasm-bindgen --version 2>/dev/null | grep -q "wasm-bindgen $WASM_BINDGEN_VERSION"; then
    step "Installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (about 2 minutes, once)"
    # Not --locked: its lockfile names a webpki-roots release the registry lacks.
    cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION"
  fi
}

ensure_wasm_opt() {
  # binaryen 132 from npm; Debian's binaryen 108 builds a wasm that fails in
  # the browser ("WebAssembly.Table.set(): Argument 1 is invalid for table").
  if ! "$ROOT/tools/node_modules/.bin/wasm-opt" --version 2>/dev/null | grep -q "version 132"; then
    step "Installing wasm-opt (npm binaryen@132)"
    (cd tools && npm ci --no-audit --no-fund --loglevel=error)
  fi
}

ensure_ffmpeg() {
  # The server remuxes session recordings with `ffmpeg -c copy`
  # (--ffmpeg); pinned to Debian 12's 5.1 line, whose WebM muxer the
  # recording tests were written against.
  if ! ffmpeg -version 2>/dev/null | head -n1 | grep -q "^ffmpeg version $FFMPEG_VERSION\."; then
    step "Installing ffmpeg $FFMPEG_VERSION (apt)"
    apt_install ffmpeg
    ffmpeg -version 2>/dev/null | head -n1 | grep -q "^ffmpeg version $FFMPEG_VERSION\." ||
      die "ffmpeg is not $FFMPEG_VERSION (apt gave: $(ffmpeg -version 2>/dev/null | head -n1)); update FFMPEG_VERSION in scripts/lib.sh"
  fi
}

ensure_build_tools() {
  command -v cargo >/dev/null || die "cargo not found: install Rust with rustup first"
  command -v npm >/dev/null || die "npm not found: install Node.js 20 or newer"
  ensure_wasm_target
  ensure_trunk
  ensure_wasm_bindgen
  ensure_wasm_opt
  ensure_ffmpeg
}

ensure_test_tools() {
  ensure_ffmpeg
  if ! cargo nextest --version >/dev/null 2>&1; then
    step "Installing cargo-nextest"
    cargo install --locked cargo-nextest
  fi
  if ! command -v chromium >/dev/null; then
    step "Installing Chromium (apt)"
    apt_install chromium
  fi
  # socat makes the pseudo-terminal pairs the agent's serial tests run over.
  if ! command -v socat >/dev/null; then
    step "Installing socat (apt)"
    apt_install socat
  fi
  # Screenshots are for people to read: Chinese text needs a CJK font.
  # The PDF certificates embed it too (server --certificate-font).
  if ! fc-list :lang=zh 2>/dev/null | grep -q . \
    || { [ ! -e /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc ] \
      && [ ! -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ]; }; then
    step "Installing a CJK font (apt)"
    apt_install fonts-wqy-microhei
  fi
  # DCC certificates are validated against the PTB schemas with xmllint,
  # PDF certificates read back with pdftotext.
  if ! command -v xmllint >/dev/null; then
    step "Installing xmllint (apt: libxml2-utils)"
    apt_install libxml2-utils
  fi
  if ! command -v pdftotext >/dev/null; then
    step "Installing pdftotext (apt: poppler-utils)"
    apt_install poppler-utils
  fi
  # Debian's coturn: the TURN server of the relay-only media test
  # (tests/e2e/media_relay.test.mjs) and the one docs/OPERATIONS.md runs
  # beside Jiliang.
  if ! command -v turnserver >/dev/null; then
    step "Installing coturn (apt)"
    apt_install coturn
  fi
  # The PDFs' QR codes are decoded in tests: a page rendered with pdftoppm
  # (poppler-utils), read with zbarimg. Pinned to Debian 12's zbar 0.23.92
  # (the decoder whose behaviour the tests were written against).
  if ! zbarimg --version 2>/dev/null | grep -qx "$ZBAR_VERSION"; then
    step "Installing zbarimg $ZBAR_VERSION (apt: zbar-tools)"
    apt_install zbar-tools
    zbarimg --version 2>/dev/null | grep -qx "$ZBAR_VERSION" ||
      die "zbarimg is not $ZBAR_VERSION (apt gave $(zbarimg --version 2>/dev/null)); update ZBAR_VERSION in scripts/lib.sh"
  fi
  # playwright-core and axe-core (the accessibility checks injected into
  # pages), at the versions pinned in tests/package.json.
  local pkg want have
  for pkg in playwright-core axe-core; do
    want="$(node -p "require('./tests/package.json').devDependencies['$pkg']")"
    have="$(node -p "try{require('./tests/node_modules/$pkg/package.json').version}catch(e){''}")"
    if [ "$have" != "$want" ]; then
      step "Installing the browser-test packages (npm ci; no browser download)"
      (cd tests && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
      break
    fi
  done
}

ensure_python_peers() {
  # Independent Modbus and SCPI peers (pymodbus, scpipy) for the agent's
  # interoperability tests and a WebRTC peer (aiortc) for the media tests,
  # pinned in tests/peers/requirements.txt. Without tests/.venv those tests
  # skip; reinstalled only when the pins change.
  local venv="$ROOT/tests/.venv" req="$ROOT/tests/peers/requirements.txt"
  local stamp="$ROOT/tests/.venv/.requirements.sha256" want
  command -v python3 >/dev/null || die "python3 not found: install Python 3.10 or newer"
  if [ ! -x "$venv/bin/python" ]; then
    step "Creating tests/.venv (Python peers for the agent tests)"
    python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv && python3 -m venv "$venv"; }
  fi
  want="$(sha256sum "$req" | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    step "Installing the pinned Python peers into tests/.venv (pip)"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
    echo "$want" >"$stamp"
  fi
}

ensure_python_api_tools() {
  # Schemathesis for the API property run (tests/api/properties.py), pinned
  # in tests/api/requirements.txt, in the same tests/.venv as the peers;
  # reinstalled only when the pins change.
  local venv="$ROOT/tests/.venv" req="$ROOT/tests/api/requirements.txt"
  local stamp="$ROOT/tests/.venv/.api-requirements.sha256" want
  command -v python3 >/dev/null || die "python3 not found: install Python 3.10 or newer"
  if [ ! -x "$venv/bin/python" ]; then
    step "Creating tests/.venv"
    python3 -m venv "$venv" 2>/dev/null || { apt_install python3-venv && python3 -m venv "$venv"; }
  fi
  want="$(sha256sum "$req" | cut -d' ' -f1)"
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    step "Installing the pinned API testing tools into tests/.venv (pip)"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
    echo "$want" >"$stamp"
  fi
}

ensure_windows_target() {
  # Lab PCs are often Windows: the agent must cross-build with MinGW.
  rustup target list --installed | grep -qx x86_64-pc-windows-gnu || {
    step "Adding the x86_64-pc-windows-gnu target"
    rustup target add x86_64-pc-windows-gnu
  }
  command -v x86_64-w64-mingw32-gcc >/dev/null || {
    step "Installing MinGW-w64 (apt: gcc-mingw-w64-x86-64)"
    apt_install gcc-mingw-w64-x86-64
  }
}

build_front_end() {
  step "Building the front end (Trunk, release)"
  # Trunk runs cargo with --offline, so the registry must be fetched first.
  cargo fetch --locked >/dev/null
  trunk build
  # The first-load shell (app/shell.html: the app without its `full`
  # feature) into its own folder, as Trunk empties its dist; then beside
  # the full app. Shared files (the CSS) have the same hashed names.
  trunk build app/shell.html --dist target/trunk-shell --html-output shell.html
  cp target/trunk-shell/* dist/
  # Pre-compressed copies (.br quality 11, .gz level 9; Node's zlib): the
  # server sends the one the browser accepts, so the bundle is compressed
  # once at build time instead of per download.
  node tools/compress.mjs dist
}
