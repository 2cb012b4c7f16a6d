#!/usr/bin/env bash
# Builds the crossbar-edge Debian package from the workspace with plain `dpkg-deb --build`
# over a staged tree (no cargo-deb): both binaries, the systemd units, the default config,
# /etc/default/crossbar-edge and the maintainer scripts in packaging/debian/.
#
#   packaging/build-deb.sh [--profile release|debug] [--bin-dir DIR] [--out DIR]
#                          [--compress xz|gzip|zstd|none]
#
#   --profile   cargo profile to build (default release; tests use debug to save time)
#   --bin-dir   take crossbar-edge and crossbar-cdc from DIR instead of building them
#   --out       where the .deb goes (default target/debian)
#   --compress  dpkg-deb compression (default xz; `none` packs debug binaries in seconds)
#
# The same settings can come from CROSSBAR_DEB_PROFILE, CROSSBAR_DEB_BIN_DIR, CROSSBAR_DEB_OUT,
# CROSSBAR_DEB_COMPRESS.
# Prints the path of the .deb as its last line.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PROFILE="${CROSSBAR_DEB_PROFILE:-release}"
BIN_DIR="${CROSSBAR_DEB_BIN_DIR:-}"
OUT="${CROSSBAR_DEB_OUT:-$ROOT/target/debian}"
COMPRESS="${CROSSBAR_DEB_COMPRESS:-xz}"

die() { echo "build-deb: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case "$1" in
        --profile) PROFILE="${2:?--profile needs a value}"; shift 2 ;;
        --bin-dir) BIN_DIR="${2:?--bin-dir needs a value}"; shift 2 ;;
        --out) OUT="${2:?--out needs a value}"; shift 2 ;;
        --compress) COMPRESS="${2:?--compress needs a value}"; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done

command -v dpkg-deb >/dev/null || die "dpkg-deb not found (apt-get install dpkg)"
command -v dpkg >/dev/null || die "dpkg not found"
case "$COMPRESS" in
    xz|gzip|zstd|none) ;;
    *) die "unknown compression '$COMPRESS' (xz, gzip, zstd or none)" ;;
esac

if [ -z "$BIN_DIR" ]; then
    case "$PROFILE" in
        release) (cd "$ROOT" && cargo build --release -p agent -p cdc --bins) ;;
        debug|dev) (cd "$ROOT" && cargo build -p agent -p cdc --bins); PROFILE=debug ;;
        *) die "unknown profile '$PROFILE' (release or debug)" ;;
    esac
    BIN_DIR="$ROOT/target/$PROFILE"
fi
for b in crossbar-edge crossbar-cdc; do
    [ -x "$BIN_DIR/$b" ] || die "$BIN_DIR/$b is missing or not executable"
done

# The version every crate inherits from the workspace ([workspace.package]).
VERSION="$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$ROOT/Cargo.toml" | head -n1)"
[ -n "$VERSION" ] || die "cannot read the version from Cargo.toml ([workspace.package])"
ARCH="$(dpkg --print-architecture)"

STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
PKG="$STAGE/crossbar-edge"
DEB_SRC="$ROOT/packaging/debian"

install -d -m 0755 "$PKG/DEBIAN" "$PKG/usr/bin" "$PKG/lib/systemd/system" \
    "$PKG/usr/share/crossbar-edge" "$PKG/usr/share/doc/crossbar-edge" "$PKG/etc/default"
install -m 0755 "$BIN_DIR/crossbar-edge" "$BIN_DIR/crossbar-cdc" "$PKG/usr/bin/"
install -m 0755 "$ROOT/packaging/cdc-call.py" "$PKG/usr/bin/crossbar-cdc-call"
install -m 0644 "$ROOT/packaging/systemd/crossbar-edge.service" \
    "$ROOT/packaging/systemd/crossbar-cdc.service" "$PKG/lib/systemd/system/"
install -m 0644 "$DEB_SRC/config.json" "$PKG/usr/share/crossbar-edge/config.json"
install -m 0644 "$DEB_SRC/default" "$PKG/etc/default/crossbar-edge"
install -m 0644 "$ROOT/README.md" "$PKG/usr/share/doc/crossbar-edge/README.md"
install -m 0755 "$DEB_SRC/postinst" "$DEB_SRC/prerm" "$DEB_SRC/postrm" "$PKG/DEBIAN/"
echo "/etc/default/crossbar-edge" >"$PKG/DEBIAN/conffiles"

SIZE="$(du -sk --exclude=DEBIAN "$PKG" | cut -f1)"
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@SIZE@/$SIZE/" \
    "$DEB_SRC/control" >"$PKG/DEBIAN/control"

mkdir -p "$OUT"
DEB="$OUT/crossbar-edge_${VERSION}_${ARCH}.deb"
# --root-owner-group: every file root:root without needing fakeroot.
dpkg-deb --root-owner-group -Z"$COMPRESS" --build "$PKG" "$DEB" >/dev/null
echo "$DEB"
