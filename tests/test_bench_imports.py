"""bench/ (make bench) is not run by the suite, but it must still import: a module it names that
moved would otherwise only show up in the next benchmark run."""
from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("mod", ["bench.__main__", "bench.microbench", "bench.baselines", "bench.hostbench",
                                 "bench.report", "bench.opkinds", "bench.intinput", "bench.layerchoice"])
def test_bench_module_imports(mod):
    importlib.import_module(mod)
