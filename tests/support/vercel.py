"""``vercel build`` by the pinned Vercel CLI, run on what a deployment sends Vercel,
and the built function laid out as its ``.vc-config.json`` maps it.

The build runs in a copy (never in the checkout) with a ``.vercel/project.json``
of its own, so it needs no login and no network but the package registries. Vercel's
Python builder picks the Python that api/pyproject.toml pins when ``python3.X`` and
``pip3.X`` are on the PATH; where that version cannot be had, the copy is pinned to
this machine's Python instead and a warning says so.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FUNCTION = "api/process-embedding-queue"
CLI = ROOT / ".tools" / "node_modules" / ".bin" / "vercel"
PROJECT = {"projectId": "prj_autoembed_test", "orgId": "team_autoembed_test",
           "settings": {"framework": None}}


@dataclass(frozen=True)
class Built:
    """A finished build and the function it made."""

    repo: Path  # the copy the CLI built in
    output: Path  # its .vercel/output
    config: dict[str, Any]  # the function's .vc-config.json
    files: dict[str, Path]  # each file of the function: its path there -> the file
    layout: Path  # those files, copied to their paths in the function
    python: Path  # the interpreter the function was built for
    runtime_pinned: bool  # whether that is the version api/pyproject.toml pins
    seconds: float  # how long `vercel build` took


def pinned_cli_version() -> str:
    """The Vercel CLI version the Makefile installs."""
    match = re.search(r"^VERCEL_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.M)
    assert match, "Makefile: no VERCEL_VERSION"
    return match.group(1)


def runtime_version() -> str:
    """The Python version api/pyproject.toml pins for the function: "==3.12.*" is "3.12"."""
    spec = tomllib.loads((ROOT / "api" / "pyproject.toml").read_text())["project"]["requires-python"]
    match = re.fullmatch(r"==(\d+\.\d+)\.\*", spec)
    assert match, f"api/pyproject.toml: requires-python {spec!r} does not name one version"
    return match.group(1)


def find_python(version: str) -> tuple[Path, Path] | None:
    """An interpreter of ``version`` that runs, with its pip (the builder wants both)."""
    candidates = [Path(d) / f"python{version}" for d in os.get_exec_path()]
    candidates += sorted(Path.home().glob(f".pyenv/versions/{version}.*/bin/python{version}"))
    for python in candidates:
        pip = python.with_name(f"pip{version}")
        if not (python.is_file() and pip.is_file()):
            continue
        probe = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                               capture_output=True, text=True, check=False)
        if probe.returncode == 0 and probe.stdout.strip() == version:
            return python, pip
    return None


def _lines(command: list[str], cwd: Path) -> list[str]:
    done = subprocess.run(command, cwd=cwd, capture_output=True, check=True)
    return [p for p in done.stdout.decode().split("\0") if p]


def _working_tree() -> list[str]:
    """The checkout's files: what git tracks or would (all but caches and tools without git)."""
    if (ROOT / ".git").exists():
        return _lines(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], ROOT)
    skip = {".git", ".venv", ".tools", ".vercel", "build", "__pycache__", ".mypy_cache", ".ruff_cache",
            ".pytest_cache"}
    found = []
    for top, dirs, names in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in skip and not d.endswith(".egg-info")]
        found += [(Path(top) / n).relative_to(ROOT).as_posix() for n in names]
    return found


def upload_copy(dest: Path) -> None:
    """Copy what a deployment sends Vercel: the working tree's files less .vercelignore's."""
    for rel in _working_tree():
        if (ROOT / rel).is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest / rel)
    # .vercelignore has .gitignore's syntax: git lists what it keeps.
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    kept = set(_lines(["git", "ls-files", "-z", "--others", "--exclude-from=.vercelignore"], dest))
    shutil.rmtree(dest / ".git")
    for path in [p for p in dest.rglob("*") if p.is_file()]:
        if path.relative_to(dest).as_posix() not in kept:
            path.unlink()


def _tools() -> tuple[str, str]:
    installed = json.loads((ROOT / ".tools/node_modules/vercel/package.json").read_text())["version"] \
        if CLI.exists() else None
    assert installed == pinned_cli_version(), (
        f"the Vercel CLI in .tools is {installed}, the Makefile pins {pinned_cli_version()}: "
        "rm -f .tools/node_modules/.bin/vercel && make setup")
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    node = shutil.which("node")
    assert uv and node, "uv (the dev extras) and node are needed: make setup"
    return uv, node


def build(work: Path) -> Built:
    """Run `vercel build --yes` on an upload copy under ``work``; lay out the function."""
    uv, node = _tools()
    repo = work / "repo"
    upload_copy(repo)
    version = runtime_version()
    found = find_python(version)
    if found is None:
        version = f"{sys.version_info[0]}.{sys.version_info[1]}"
        found = Path(sys.executable), Path(sys.executable).with_name(f"pip{version}")
        pyproject = repo / "api" / "pyproject.toml"
        pyproject.write_text(re.sub(r'requires-python = "[^"]*"', f'requires-python = "=={version}.*"',
                                    pyproject.read_text()))
        warnings.warn(f"no Python {runtime_version()} here (Vercel's runtime): the function is built "
                      f"for, and run with, this machine's Python {version}", stacklevel=2)
    python, pip = found
    tools = work / "bin"
    tools.mkdir()
    for name, target in {f"python{version}": python, "python3": python, "python": python,
                         f"pip{version}": pip, "uv": Path(uv), "node": Path(node)}.items():
        (tools / name).symlink_to(target)
    (repo / ".vercel").mkdir()
    (repo / ".vercel" / "project.json").write_text(json.dumps(PROJECT))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("UV_", "VIRTUAL_ENV", "CONDA_", "PYTHON", "VERCEL"))}
    env.update(PATH=f"{tools}:/usr/bin:/bin", HOME=str(work / "home"), VERCEL_TELEMETRY_DISABLED="1",
               UV_PYTHON=str(python), UV_PYTHON_DOWNLOADS="never")
    started = time.monotonic()
    done = subprocess.run([str(CLI), "build", "--yes"], cwd=repo, env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    seconds = time.monotonic() - started
    assert done.returncode == 0, f"vercel build failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    output = repo / ".vercel" / "output"
    func = output / "functions" / f"{FUNCTION}.func"
    config = json.loads((func / ".vc-config.json").read_text())
    files = {rel: repo / src for rel, src in config.get("filePathMap", {}).items()}
    files.update({p.relative_to(func).as_posix(): p for p in func.rglob("*")
                  if p.is_file() and p.name != ".vc-config.json"})
    layout = work / "function"
    for rel, src in files.items():
        (layout / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, layout / rel)
    return Built(repo, output, config, files, layout, python, version == runtime_version(), seconds)
