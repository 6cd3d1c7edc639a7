"""Board-aware BNN width search (Optuna, NSGA-II): `larq2mcu search` and `search()`.

    from larq2mcu import datasets, search
    res = search.search(data=datasets.load_digits(), board="nucleo_f446re", n_trials=12,
                        out_dir="out/search", build=my_build)   # my_build(genome, shape, classes)
    print(res.rows)           # the verified Pareto front; res.chosen → PlatformIO project

Modules: space (genome and the BNN family), latency (exact cost on a board), objective (one
trial), study (Optuna study, storage, exact budget across workers), front (Pareto front,
verification, plots), progress (live line per trial), api (the whole run).
"""
from .api import SearchResult, finish, make_objective, search
from .latency import CLOCK_HZ, EMULATED_TWIN, Cost, measure
from .objective import Data, Limits, Objective, Recipe
from .space import Genome, Space, build_bnn
from .study import default_storage, open_study, run_worker

__all__ = [
           "CLOCK_HZ",
           "EMULATED_TWIN",
           "Cost",
           "Data",
           "Genome",
           "Limits",
           "Objective",
           "Recipe",
           "SearchResult",
           "Space",
           "build_bnn",
           "default_storage",
           "finish",
           "make_objective",
           "measure",
           "open_study",
           "run_worker",
           "search",
]
