"""PsiResult reads well at any size: repr and str summarize, they never dump every item."""

from __future__ import annotations

import pytest

import tds
from tds.psi import Disclosure, Mode, PsiResult, run_local


def big_result() -> PsiResult:
    ids = [f"id-{i}" for i in range(3000)]
    return run_local(ids, ids, workers=1)


@pytest.mark.parametrize("render", [repr, str])
def test_a_large_result_is_summarized(render: object) -> None:
    text = render(big_result())  # type: ignore[operator]
    assert len(text) < 300
    assert "3000" in text and "'id-0'" in text and "'id-4'" in text
    assert "'id-5'" not in text and "..." in text


def test_repr_names_the_fields_and_the_number_of_items() -> None:
    text = repr(big_result())
    assert text.startswith("PsiResult(mode='intersection', size=3000, items=('id-0', ")
    assert "(3000 items)" in text
    assert "counts=(1, 1, 1, 1, 1, ...)" in text
    assert "left_set_size=3000, right_set_size=3000" in text


def test_a_small_result_shows_everything_it_holds() -> None:
    result = run_local(["a", "b", "c"], ["b", "c", "d"], workers=1)
    assert repr(result) == (
        "PsiResult(mode='intersection', size=2, items=('b', 'c'), counts=(1, 1), "
        "left_set_size=3, right_set_size=3)"
    )
    assert str(result) == "intersection: 2 shared of 3 left and 3 right keys; items 'b', 'c'"


def test_long_items_are_cut_short() -> None:
    long = "x" * 10_000
    result = run_local([long, ("y" * 5000, 2**4000)], [long, ("y" * 5000, 2**4000)], workers=1)
    assert len(repr(result)) < 300 and len(str(result)) < 300


def test_str_of_each_view(sum_key: tds.he.PrivateKey) -> None:
    summed = run_local(
        ["a", "b"], ["b", "c"], "sum", [5, 7], sum_key=sum_key, workers=1, insecure=True
    )
    assert str(summed) == "sum: 1 shared of 2 left and 2 right keys; sum 5"
    assert "sum=5" in repr(summed) and "items" not in repr(summed)
    right_view = PsiResult(Mode.INTERSECTION, Disclosure.for_mode("intersection"), 4, 2)
    assert str(right_view) == "intersection: size not learned, 4 left and 2 right keys"
    assert repr(right_view) == ("PsiResult(mode='intersection', left_set_size=4, right_set_size=2)")
