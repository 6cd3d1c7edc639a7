"""The live line per finished trial (rich), printed by an Optuna callback."""
from __future__ import annotations


def _kb(n) -> str:
    return f"{n / 1024:.1f} KiB"


def line(study, t, n_trials: int) -> str:
    """`trial 3/16  c32-64_d128  acc 84.10 %  1,124,928 instr (6.25 ms)  flash 54.0 KiB  RAM 4.4 KiB  21 s`,
    or the reason a trial was pruned / why it failed."""
    import optuna
    S = optuna.trial.TrialState
    a = t.user_attrs
    done = len(study.get_trials(deepcopy=False, states=(S.COMPLETE, S.PRUNED)))
    head = f"[bold]trial {t.number}[/] [{done}/{n_trials}] {a.get('genome', '?')}"
    c = a.get("cost")
    cost = "" if c is None else (f"  {c['instructions']:,} instr" + (f" ({c['ms']:.2f} ms)" if c.get("ms") else "")
                                 + f"  flash {_kb(c['flash'])}  RAM {_kb(c['ram'])}")
    if a.get("surplus"):
        return f"[dim]trial {t.number}: budget of {n_trials} already taken, not run[/]"
    if "duplicate_of" in a:
        return f"{head}  [dim]same genome as trial {a['duplicate_of']}, not retrained[/]"
    if t.state == S.PRUNED:
        over = ", ".join(f"{k} +{v:,.0f}" for k, v in a.get("over", {}).items())
        return f"{head}  [yellow]pruned before training[/] (over: {over}){cost}"
    if t.state == S.COMPLETE:
        ok = all(v <= 0 for v in a.get("violations", {"?": 1}).values())
        flag = "" if ok else "  [red]infeasible after training[/]"
        return f"{head}  acc [green]{100 * t.values[0]:.2f} %[/]{cost}  {a.get('seconds', 0):.0f} s{flag}"
    return f"{head}  [red]{t.state.name}[/]"


class Progress:
    """Optuna callback: one rich line per trial."""

    def __init__(self, n_trials: int, console=None):
        from rich.console import Console
        self.n, self.console = n_trials, console or Console(highlight=False)

    def __call__(self, study, t):
        """Print the line of finished trial `t`."""
        self.console.print(line(study, t, self.n))
