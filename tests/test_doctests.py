"""Every doctest in the core runs in the suite, wherever the module lives.

The modules are found by walking the installed package, so a module moved into a
sub-package keeps its examples checked without anyone listing it here.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from types import ModuleType

import pytest

import cogw.core


def _core_modules() -> list[str]:
    found = pkgutil.walk_packages(cogw.core.__path__, prefix="cogw.core.")
    return sorted(info.name for info in found)


@pytest.mark.parametrize("name", _core_modules())
def test_core_doctests_pass(name: str) -> None:
    module: ModuleType = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"


def test_the_core_has_examples() -> None:
    """The walk finds the core's modules, and some of them carry examples."""
    finder = doctest.DocTestFinder()
    attempted = sum(
        len(test.examples)
        for name in _core_modules()
        for test in finder.find(importlib.import_module(name))
    )
    assert attempted >= 20
