"""Arguments no command can use: one line naming what to fix, exit 2. A probe saw `serve --port 99999`
serve on 34463, a traceback for a bad host or a port in use, `secrets set --url notaurl` stored (every
dispatch then failed), and `search --page-size 1000` fail in SQL."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

ENV = {"DATABASE_URL": "postgresql://u@127.0.0.1:1/db", "CRON_SECRET": "serve-arguments-secret",
       "OPENAI_API_KEY": "sk-serve-arguments"}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    where = {k: os.environ[k] for k in ("PATH", "PYTHONPATH") if k in os.environ}
    return subprocess.run([sys.executable, "-m", "autoembed.cli", *args], env={**where, **ENV},
                          capture_output=True, text=True, timeout=60, check=False)


def _serve(*args: str) -> subprocess.CompletedProcess[str]:
    return _cli("serve", *args)


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_a_port_out_of_range_is_refused_by_name(port: str) -> None:
    done = _serve("--port", port)
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        f"autoembed serve: error: argument --port: must be a port from 0 to 65535, not {port!r}")


def test_a_host_that_is_no_address_is_one_line() -> None:
    done = _serve("--host", "999.1.1.1", "--port", "0")
    assert (done.returncode, done.stdout) == (2, "")
    [line] = done.stderr.splitlines()  # waitress's own words in the middle
    assert line.startswith("autoembed: cannot listen on 999.1.1.1:0: ")
    assert line.endswith(" (check --host and --port)")


def test_a_port_in_use_is_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _serve("--port", str(port))
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.splitlines() == [
        f"autoembed: cannot listen on 127.0.0.1:{port}: Address already in use (check --host and --port)"]


@pytest.mark.parametrize("url", ["notaurl", "ftp://app.example/x", "https://"])
def test_a_processor_url_that_is_not_http_is_never_stored(url: str) -> None:
    done = _cli("secrets", "set", "--url", url)
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == ("autoembed secrets: error: argument --url: --url must be an "
                                            f"http:// or https:// URL with a host, not {url!r}")


@pytest.mark.parametrize("size", ["0", "101", "1000"])
def test_a_page_size_out_of_1_to_100_is_refused_before_any_query(size: str) -> None:
    done = _cli("search", "rust", "--page-size", size)
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        f"autoembed search: error: argument --page-size: --page-size must be between 1 and 100, not {size}")
