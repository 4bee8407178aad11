#!/usr/bin/env bash
# Install the system packages autoembed's local stack needs: PostgreSQL with
# pg_cron, pgvector, pgTAP, pg_prove and plpgsql_check, plus Node.js/npm for the
# Supabase CLI, and the Unicode data files (tests/unit/test_invisible_text.py). Idempotent: when everything is present it does nothing, so a
# normal user can run it after an administrator installed the packages once.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

. /etc/os-release
case "${VERSION_CODENAME:-}" in
  bookworm) pgv=15 ;;
  trixie) pgv=17 ;;
  *) echo "install_system: unsupported Debian release '${VERSION_CODENAME:-?}'" >&2; exit 1 ;;
esac
pg_config=/usr/lib/postgresql/$pgv/bin/pg_config
sharedir=/usr/share/postgresql/$pgv

have_all() {
  [ -x "$pg_config" ] \
    && [ -f "$sharedir/extension/pg_cron.control" ] \
    && [ -f "$sharedir/extension/vector.control" ] \
    && [ -f "$sharedir/extension/pgtap.control" ] \
    && [ -f "$sharedir/extension/plpgsql_check.control" ] \
    && command -v pg_prove >/dev/null \
    && command -v npm >/dev/null \
    && command -v make >/dev/null \
    && command -v curl >/dev/null \
    && command -v openssl >/dev/null \
    && [ -f /usr/share/unicode/DerivedCoreProperties.txt ] \
    && python3 -c 'import ensurepip, venv' 2>/dev/null
}

if have_all; then
  echo "PGBIN=/usr/lib/postgresql/$pgv/bin"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "install_system: missing system packages; run 'sudo $0' once (see README)" >&2
  exit 1
fi

# Installing postgresql-NN must not create and start a 'main' cluster on 5432.
mkdir -p /etc/postgresql-common/createcluster.d
echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/autoembed-no-main.conf

apt-get update -qq
pkgs="postgresql-$pgv postgresql-$pgv-cron postgresql-$pgv-pgtap postgresql-$pgv-plpgsql-check"
pkgs="$pkgs libtap-parser-sourcehandler-pgtap-perl ca-certificates make curl openssl unicode-data"
command -v npm >/dev/null || pkgs="$pkgs nodejs npm"
python3 -c 'import ensurepip, venv' 2>/dev/null || pkgs="$pkgs python3-venv"
if [ "$pgv" = 17 ]; then
  pkgs="$pkgs postgresql-17-pgvector"
else
  pkgs="$pkgs postgresql-server-dev-15 make gcc dpkg-dev"
fi
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $pkgs >/dev/null

if [ ! -f "$sharedir/extension/vector.control" ]; then
  # bookworm has no pgvector binary: build trixie's source package (0.8.0) with
  # a private apt configuration, leaving /etc/apt untouched.
  work=$(mktemp -d)
  mkdir -p "$work/lists/partial" "$work/parts"
  mirror=$(awk '/^URIs:/{print $2}' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -1 || true)
  [ -n "$mirror" ] || mirror=$(awk '$1=="deb"{print $2; exit}' /etc/apt/sources.list 2>/dev/null)
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" > "$work/sources.list"
  apt_opts=(-o Dir::Etc::SourceList="$work/sources.list" -o Dir::Etc::SourceParts="$work/parts"
            -o Dir::State::Lists="$work/lists" -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=)
  apt-get -qq "${apt_opts[@]}" update
  (cd "$work" && apt-get -qq "${apt_opts[@]}" source pgvector >/dev/null 2>&1)
  src=$(ls -d "$work"/pgvector-*/ | head -1)
  make -s -C "$src" PG_CONFIG="$pg_config" with_llvm=no -j"$(nproc)" >/dev/null
  make -s -C "$src" PG_CONFIG="$pg_config" with_llvm=no install >/dev/null
  rm -rf "$work"
fi
have_all || { echo "install_system: packages still missing after install" >&2; exit 1; }
echo "PGBIN=/usr/lib/postgresql/$pgv/bin"
