"""The plan's one typed reader (typed_settings, pydantic): every section read the same way, errors naming
the entry and the key."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from medembed_evaluator.errors import DatasetError, PlanError
from medembed_evaluator.typed_settings import read_settings, read_value


@dataclass(frozen=True)
class Inner:
    words: tuple[str, ...] = ("A", "B")
    size: float = 0.5

    def __post_init__(self) -> None:
        if not 0 < self.size <= 1:
            raise PlanError(f"size must be in (0, 1], got {self.size}")


@dataclass(frozen=True)
class Outer:
    name: str
    count: int = 1
    flag: bool = False
    mapping: dict[str, str] = field(default_factory=dict)
    inner: Inner | None = None


def test_defaults_conversions_and_nesting() -> None:
    assert read_settings(Outer, {"name": "x"}, where="s") == Outer("x")
    read = read_settings(Outer, {"name": 7, "count": 4.0, "mapping": {"a": 1}, "inner": {"words": "ONE"}}, where="s")
    assert read == Outer("7", 4, False, {"a": "1"}, Inner(("ONE",)))
    assert read_settings(Outer, {"name": "x", "inner": {}}, where="s").inner == Inner()
    assert read_settings(Inner, None, where="s") == Inner()
    assert read_value(list[int], [1, 2], "l") == [1, 2]


@pytest.mark.parametrize(("value", "message"), [
    ([1], r"^s: expected a mapping, got list$"),
    ({"count": 2}, r"^s\.name: missing$"),
    ({"name": ""}, r"^s\.name: missing$"),
    ({"name": "x", "cuont": 2}, r"^s: unknown key\(s\) cuont \(known: count, flag, inner, mapping, name\); "
                                r"cuont: did you mean count\?$"),
    ({"name": "x", "count": 2.5}, r"^s\.count: expected an integer, got 2\.5$"),
    ({"name": "x", "count": True}, r"^s\.count: expected an integer, got True$"),
    ({"name": "x", "flag": "yes"}, r"^s\.flag: expected true or false, got 'yes'$"),
    ({"name": ["x"]}, r"^s\.name: expected a string, got \['x'\]$"),
    ({"name": "x", "inner": {"size": "big"}}, r"^s\.inner\.size: expected a number, got 'big'$"),
    ({"name": "x", "inner": {"words": {"a": 1}}}, r"^s\.inner\.words: expected a list"),
    ({"name": "x", "inner": {"size": 2}}, r"^s\.inner\.size must be in \(0, 1\], got 2\.0$"),
    ({"name": "x", "mapping": {"a": [1]}}, r"^s\.mapping\.a: expected a string"),
    ({"name": "x", "count": "4"}, r"^s\.count: expected an integer, got '4'$"),
    ({"name": "x", "inner": {"size": True}}, r"^s\.inner\.size: expected a number, got True$"),
    ({"name": "x", "inner": {"words": ["a", None]}}, r"^s\.inner\.words\[1\]: expected a string, got None$"),
    ({"name": "x", "cuont": 2, "flgs": 1},
     r"^s: unknown key\(s\) cuont, flgs \(known: .*\); cuont: did you mean count\? flgs: did you mean flag\?$"),
])
def test_every_problem_names_the_section_and_the_key(value, message) -> None:
    with pytest.raises(PlanError, match=message):
        read_settings(Outer, value, where="s")


def test_the_caller_chooses_the_error_type() -> None:
    with pytest.raises(DatasetError, match=r"dataset 'd' options: unknown key\(s\) x \(known: size, words\)"):
        read_settings(Inner, {"x": 1}, where="dataset 'd' options", error=DatasetError)
