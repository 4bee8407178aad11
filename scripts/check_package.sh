#!/usr/bin/env bash
# The package a user installs: build the sdist and the wheel, install the wheel
# into a fresh venv without the dev extras, and check that the CLI works, knows
# its version and the schema it expects (from the migrations the wheel carries),
# and brought no torch (the local model is the optional extra `local`).
set -euo pipefail
cd "$(dirname "$0")/.."
py=${PY:-.venv/bin/python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$py" -m pip install -q --disable-pip-version-check build 2>"$work/pip.log" || { cat "$work/pip.log"; exit 1; }
"$py" -m build --outdir "$work/dist" . >"$work/build.log" 2>&1 || { cat "$work/build.log"; exit 1; }
ls "$work"/dist/autoembed-*.tar.gz "$work"/dist/autoembed-*-py3-none-any.whl >/dev/null
wheel=$(ls "$work"/dist/autoembed-*.whl)
# The listing goes to a file: `| grep -q` stops reading at the first match, and the
# lister then dies of a broken pipe, which pipefail reports as a failure.
"$py" -m zipfile -l "$wheel" > "$work/wheel.txt"
grep -q "autoembed/migrations/20261128000100_schema.sql" "$work/wheel.txt"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q --disable-pip-version-check "$wheel" 2>"$work/pip.log" || { cat "$work/pip.log"; exit 1; }
version=$("$py" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
shown=$("$work/venv/bin/autoembed" --version)
case "$shown" in
  "autoembed $version (schema "[0-9]*) ;;
  *) echo "check_package: autoembed --version printed '$shown', expected autoembed $version (schema …)" >&2; exit 1 ;;
esac
"$work/venv/bin/autoembed" --help >/dev/null
if "$work/venv/bin/python" -c 'import torch' 2>/dev/null; then
  echo "check_package: the wheel pulled in torch without the local extra" >&2; exit 1
fi
(cd "$work" && env -u DATABASE_URL "$work/venv/bin/autoembed" status 2>"$work/err" && exit 1 || true)
grep -q "DATABASE_URL is not set" "$work/err"
echo "package: $(basename "$wheel") installs, $shown"
