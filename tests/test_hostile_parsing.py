"""critmin.safeio and critmin.validate themselves: what they accept is what PyYAML accepted for every real file,
and what they refuse they refuse in bounded time with one line."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from critmin.errors import InputError
from critmin.safeio import MAX_DEPTH, load_json, load_yaml
from critmin.validate import check_number, check_unique

ROOT = Path(__file__).resolve().parents[1]
REAL_YAML = sorted(p for d in ("src", "docs") for p in (ROOT / d).rglob("*.y*ml"))


def test_every_real_yaml_file_reads_as_before() -> None:
    """Chains, scenarios, backtests, the registry (which uses aliases): the same Python data as PyYAML's."""
    assert len(REAL_YAML) > 20
    for f in REAL_YAML:
        text = f.read_text(encoding="utf-8")
        assert load_yaml(text, str(f)) == yaml.safe_load(text), f


@pytest.mark.parametrize(("text", "value"), [
    ("7_5", "7_5"), ("1:30", "1:30"), ("0x10", 16), ("0o17", 15), ("012", 12), ("-3", -3), ("1.5e3", 1500.0),
    ("2025-10-28", __import__("datetime").date(2025, 10, 28)), ("yes", True), ("'7'", "7"),
])
def test_yaml_numbers_follow_yaml_1_2(text, value) -> None:
    assert load_yaml(f"x: {text}\n", "f.yaml") == {"x": value}


def test_small_aliases_are_fine_and_a_bomb_is_refused_at_once() -> None:
    ok = "a: &a {k: [1, 2, 3]}\nb: [*a, *a, *a]\n"
    assert load_yaml(ok, "ok.yaml")["b"][2] == {"k": [1, 2, 3]}
    # 10 values of 11, 111, ..., 11,111,111,111 nodes, 10 keys and the root: 12,345,679,021 nodes once expanded
    bomb = 'a: &a ["x","x","x","x","x","x","x","x","x","x"]\n' + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 10) + "]\n" for i in range(9))
    start = time.perf_counter()
    with pytest.raises(InputError, match="aliases expand the document to 12,345,679,021 nodes"):
        load_yaml(bomb, "bomb.yaml")
    assert time.perf_counter() - start < 1


def test_depth_limit_is_exact() -> None:
    load_yaml("[" * MAX_DEPTH + "]" * MAX_DEPTH, "f.yaml")
    load_json("[" * MAX_DEPTH + "]" * MAX_DEPTH, "f.json")
    with pytest.raises(InputError, match=f"nesting deeper than {MAX_DEPTH}"):
        load_yaml("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "f.yaml")
    with pytest.raises(InputError, match=f"nesting deeper than {MAX_DEPTH}"):
        load_json("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "f.json")


@pytest.mark.parametrize(("value", "whole", "problem"), [
    ("7_5", False, "not a plain decimal number"), ("nan", False, "not a plain decimal number"),
    (float("inf"), False, "not a finite number"), ("1e400", False, "not a finite number"),
    (True, False, "not a number"), ("2022.5", True, "not a whole number"), (2022.5, True, "not a whole number"),
    ("7_5", True, "not a whole number"),
])
def test_check_number_refuses_loose_numbers(value, whole, problem) -> None:
    with pytest.raises(InputError, match=problem) as err:
        check_number(value, "--opt", None, whole=whole)
    assert err.value.source == "--opt"


def test_check_number_accepts_plain_numbers_and_ranges() -> None:
    assert check_number("2022", "y", whole=True, low=1900, high=2100) == 2022
    assert check_number(" 0.25 ", "f", low=0, high=1) == 0.25
    with pytest.raises(InputError, match="outside 0..1"):
        check_number(1.5, "f", low=0, high=1)


def test_check_unique_names_the_repeat_and_the_first() -> None:
    import pandas as pd

    df = pd.DataFrame({"a": [1, 2, 1], "b": ["x", "y", "x"]})
    with pytest.raises(InputError, match=r"row 4: duplicate row \(a=1, b=x; first on row 2\)"):
        check_unique(df, ["a", "b"], "t.csv")


@pytest.mark.parametrize(("parser", "value", "ok"), [
    ("whole_number", "7_5", None), ("whole_number", "2022.5", None), ("whole_number", "12", 12), ("whole_number", 5, 5),
    ("finite_number", "nan", None), ("finite_number", "inf", None), ("finite_number", "1e400", None),
    ("finite_number", "-0.5", -0.5),
])
def test_cli_number_parsers(parser, value, ok) -> None:
    """The typer parsers of critmin.cli.common read option values as critmin.validate reads files."""
    import typer

    from critmin.cli import common

    fn = getattr(common, parser)
    if ok is None:
        with pytest.raises(typer.BadParameter):
            fn(value)
    else:
        assert fn(value) == ok
