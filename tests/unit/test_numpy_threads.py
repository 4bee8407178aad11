"""An OpenAI run's numpy starts no OpenBLAS thread per core.

The processor uses numpy only to lay vectors out. OpenBLAS, loaded with numpy,
starts a thread per core that spins at startup: 0.1 s of CPU every run on 2
cores (bench/process_defaults counts the processor's CPU).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PROBE = """
import json, os, sys
from autoembed.config import Settings
from autoembed.embedders import create_embedder
create_embedder(Settings.from_env(json.loads(sys.argv[1])))
import numpy  # as the first answer loads it
numpy.ones((64, 64)) @ numpy.ones((64, 64))  # a BLAS call, which starts any threads it has
print(json.dumps([os.environ.get("OPENBLAS_NUM_THREADS"), len(os.listdir("/proc/self/task"))]))
"""
BASE = {"DATABASE_URL": "postgresql://unused/db"}


def probe(settings: dict[str, str], extra_env: dict[str, str]) -> list[object]:
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"} | extra_env
    out = subprocess.run([sys.executable, "-c", PROBE, json.dumps(BASE | settings)], env=env,
                         capture_output=True, text=True, check=True)
    return list(json.loads(out.stdout))


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="threads are counted in /proc")
def test_an_openai_run_starts_no_blas_threads() -> None:
    assert probe({"EMBEDDING_PROVIDER": "openai", "OPENAI_API_KEY": "sk-test"}, {}) == ["1", 1]


def test_a_users_setting_stands() -> None:
    settings = {"EMBEDDING_PROVIDER": "openai", "OPENAI_API_KEY": "sk-test"}
    assert probe(settings, {"OPENBLAS_NUM_THREADS": "2"})[0] == "2"


def test_the_local_model_is_left_alone() -> None:
    # Its BLAS may be the same OpenBLAS on some platforms: its threads are its own to set.
    assert probe({"EMBEDDING_PROVIDER": "local"}, {})[0] is None
