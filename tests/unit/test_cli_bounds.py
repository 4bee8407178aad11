"""Arguments that repeat a setting take its bounds (an operator's probe: `--budget -1` claimed
nothing and exited 0; `--dimensions 0` said "already the active model"; `--dimensions 99999`
reached the database as a constraint violation after a request to the provider)."""

from __future__ import annotations

import pytest
from autoembed.cli import build_parser


@pytest.mark.parametrize(("argv", "message"), [
    (["process", "--budget", "-1"], "--budget must be a positive number of seconds, not '-1'"),
    (["process", "--budget", "nan"], "--budget must be a positive number of seconds, not 'nan'"),
    (["process", "--budget", "soon"], "--budget must be a number, not 'soon'"),
    (["switch-model", "m", "--dimensions", "0"], "--dimensions must be between 1 and 16000, not 0"),
    (["switch-model", "m", "--dimensions", "99999"], "--dimensions must be between 1 and 16000, not 99999"),
])
def test_an_argument_out_of_its_settings_bounds_is_refused_before_anything_runs(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as refused:
        build_parser().parse_args(argv)
    assert refused.value.code == 2
    assert message in capsys.readouterr().err


def test_the_bounds_let_good_values_through() -> None:
    assert build_parser().parse_args(["process", "--budget", "2.5"]).budget == 2.5
    assert build_parser().parse_args(["switch-model", "m", "--dimensions", "256"]).dimensions == 256
