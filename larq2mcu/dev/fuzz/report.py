"""Campaign summary: counters, coverage, failures; JSON and Markdown renderings."""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

MAX_LISTED = 50          # failures / examples kept in the summary


@dataclass
class Summary:
    """Counters of a fuzz campaign (or of merged shards), filled model by model with `add`; the
    issue counters are per sample, the pass/fail/crash counters per model."""
    seed: int
    n_inputs: int
    models: int = 0
    passed: int = 0
    failed: int = 0
    crashed: int = 0
    generator_errors: int = 0
    inputs: int = 0
    bit_tensors: int = 0
    bits_compared: int = 0
    mismatched_bits: int = 0
    mismatch_samples: int = 0            # samples with any disagreement, before classification
    rounding_flip_samples: int = 0
    near_tie_samples: int = 0
    float_rounding_samples: int = 0
    nonfinite_samples: int = 0
    known_subnormal_samples: int = 0
    failure_samples: int = 0
    max_abs_diff: float = 0.0
    model_seconds: float = 0.0
    wall_seconds: float = 0.0
    coverage: Counter = field(default_factory=Counter)
    model_coverage: Counter = field(default_factory=Counter)   # kind → number of models containing it
    failures: list = field(default_factory=list)        # dicts
    flip_examples: list = field(default_factory=list)
    command: str = ""
    seeds: list = field(default_factory=list)           # campaign seeds of merged shards

    @property
    def ok(self) -> bool:
        """No failed or crashed model and no generator error (classified, non-failure issues are fine)."""
        return self.failed == 0 and self.crashed == 0 and self.generator_errors == 0

    def add(self, r) -> None:
        """Count one `ModelResult` (its time and coverage always); a crash or generator error then
        only lists its error, other results add their counters and issues (up to 8 examples of each
        non-failure kind are kept) and count as passed or failed."""
        self.models += 1
        self.model_seconds += r.seconds
        self.coverage.update(r.coverage)
        self.model_coverage.update(k for k, v in r.coverage.items() if v)
        if r.status == "generator-error":
            self.generator_errors += 1
            self._fail(r, [r.error])
            return
        if r.status == "crash":
            self.crashed += 1
            self._fail(r, [r.error])
            return
        self.inputs += r.n_inputs
        self.bit_tensors += r.bit_tensors
        self.bits_compared += r.bits_compared
        self.mismatched_bits += r.mismatched_bits
        self.max_abs_diff = max(self.max_abs_diff, r.max_abs_diff)
        self.mismatch_samples += len(r.issues)
        self.rounding_flip_samples += r.count("rounding_flip")
        self.near_tie_samples += r.count("near_tie")
        self.float_rounding_samples += r.count("float_rounding")
        self.nonfinite_samples += r.count("nonfinite")
        self.known_subnormal_samples += r.count("known_subnormal")
        self.failure_samples += r.count("failure")
        for i in r.issues:
            if i.kind in ("rounding_flip", "float_rounding", "near_tie") and \
                    sum(e["kind"] == i.kind for e in self.flip_examples) < 8:
                self.flip_examples.append({"seed": r.seed, "sample": i.sample, "kind": i.kind, "detail": i.detail})
        if r.status == "fail":
            self.failed += 1
            self._fail(r, [f"sample {i.sample}: {i.detail}" for i in r.issues if i.kind == "failure"][:5])
        else:
            self.passed += 1

    def _fail(self, r, details) -> None:
        if len(self.failures) < MAX_LISTED:
            self.failures.append({"seed": r.seed, "status": r.status, "details": details,
                                  "model": r.description})

    @classmethod
    def from_json(cls, d: dict) -> "Summary":
        """Inverse of `to_json`: unknown keys and "ok" (derived) are ignored."""
        s = cls(seed=d["seed"], n_inputs=d["n_inputs"])
        for k, v in d.items():
            if k in ("coverage", "model_coverage"):
                setattr(s, k, Counter(v))
            elif hasattr(s, k) and k != "ok":
                setattr(s, k, v)
        return s

    def merge(self, o: "Summary") -> "Summary":
        """Combine shards run in parallel (different seeds): counters add, wall time is the max."""
        m = Summary(seed=self.seed, n_inputs=self.n_inputs)
        for k, v in vars(self).items():
            w = getattr(o, k)
            if k in ("seed", "n_inputs", "seeds"):
                continue
            if k in ("coverage", "model_coverage"):
                setattr(m, k, v + w)
            elif k in ("failures", "flip_examples"):
                setattr(m, k, (v + w)[:MAX_LISTED])
            elif k == "command":
                m.command = "\n".join(c for c in (v, w) if c)
            elif k in ("max_abs_diff", "wall_seconds"):
                setattr(m, k, max(v, w))
            else:
                setattr(m, k, v + w)
        m.seeds = sorted(set((self.seeds or [self.seed]) + (o.seeds or [o.seed])))
        return m

    def to_json(self) -> dict:
        """Every field as a JSON-ready dict, coverage sorted by key, plus the derived "ok"."""
        d = {k: v for k, v in vars(self).items() if k not in ("coverage", "model_coverage")}
        d["coverage"] = dict(sorted(self.coverage.items()))
        d["model_coverage"] = dict(sorted(self.model_coverage.items()))
        d["ok"] = self.ok
        return d

    def write_json(self, path) -> None:
        """Write `to_json()` to `path` as JSON (indent 1, non-ASCII characters kept)."""
        with open(path, "w") as f:
            json.dump(self.to_json(), f, indent=1, ensure_ascii=False)

    def text(self) -> str:
        """Plain-text summary for the terminal: counters, coverage, up to 10 failures, RESULT: PASS/FAIL."""
        lines = [
            f"models: {self.models} (passed {self.passed}, failed {self.failed}, crashed {self.crashed}, "
            f"generator errors {self.generator_errors})",
            f"inputs: {self.inputs} ({self.n_inputs} per model); models × inputs = {self.models} × {self.n_inputs}",
            f"binary tensors compared: {self.bit_tensors}, bits compared: {self.bits_compared:,}, "
            f"mismatched bits: {self.mismatched_bits:,}",
            f"samples with any disagreement: {self.mismatch_samples} = rounding flips "
            f"{self.rounding_flip_samples} + near ties {self.near_tie_samples} + float rounding "
            f"{self.float_rounding_samples} + non-finite "
            f"{self.nonfinite_samples} + known bug subnormal {self.known_subnormal_samples} + FAILURES "
            f"{self.failure_samples}",
            f"max output |Δ| over agreeing samples: {self.max_abs_diff:.3g}",
            f"wall: {self.wall_seconds:.1f} s ({self.model_seconds / max(self.models, 1):.2f} s/model)",
            "coverage by layer kind:",
        ]
        for k, v in sorted(self.coverage.items()):
            lines.append(f"  {k:<44} {v}")
        for f in self.failures[:10]:
            lines.append(f"FAILURE seed={f['seed']} [{f['status']}]: " + " | ".join(f["details"])[:600])
        lines.append("RESULT: " + ("PASS" if self.ok else "FAIL"))
        return "\n".join(lines)

    def markdown(self, title: str = "Fuzz campaign") -> str:
        """Markdown report: the figures table, Keras-side and IR coverage tables, classified examples
        and failures."""
        c = self.coverage
        layer = {k: v for k, v in c.items() if not k.startswith("ir:")}
        irk = {k[3:]: v for k, v in c.items() if k.startswith("ir:")}
        md = [f"# {title}", ""]
        if self.command:
            md += ["Command:", "", "```", self.command, "```", ""]
        md += [
            "| figure | value |", "|---|---|",
            f"| seed(s) | {', '.join(map(str, self.seeds or [self.seed]))} |",
            f"| models × inputs per model | {self.models} × {self.n_inputs} ({self.inputs:,} model-inputs checked; "
            f"crashed models have none) |",
            f"| passed / failed / crashed / generator errors | {self.passed} / {self.failed} / {self.crashed} / "
            f"{self.generator_errors} |",
            f"| binary tensors compared | {self.bit_tensors:,} |",
            f"| bits compared / mismatched | {self.bits_compared:,} / {self.mismatched_bits:,} |",
            f"| samples with any disagreement | {self.mismatch_samples} |",
            f"| — rounding flips (sign within float rounding of 0) | {self.rounding_flip_samples} |",
            f"| — argmax near ties (within rounding) | {self.near_tie_samples} |",
            f"| — float output beyond verify tolerance but within the derived rounding bound | "
            f"{self.float_rounding_samples} |",
            f"| — Keras inf/NaN (overflow) | {self.nonfinite_samples} |",
            f"| — known bug: subnormal inputs (TF flushes them to 0, the C does not) | "
            f"{self.known_subnormal_samples} |",
            f"| — **failures** | {self.failure_samples} |",
            f"| max output abs diff over agreeing samples (verify tolerance 2.5e-4 + 2.5e-4·abs(y)) | "
            f"{self.max_abs_diff:.3g} |",
            f"| wall time | {self.wall_seconds:.0f} s ({self.model_seconds / max(self.models, 1):.2f} s/model) |",
            f"| result | {'PASS' if self.ok else 'FAIL'} |", "",
            "## Coverage by layer kind (Keras side: layers / options generated)", "",
            "| kind | count | models |", "|---|---|---|"]
        mc = self.model_coverage
        md += [f"| {k} | {v} | {mc.get(k, '')} |" for k, v in sorted(layer.items())]
        md += ["", "## Coverage of lowered IR ops (after the passes)", "", "| op | count | models |", "|---|---|---|"]
        md += [f"| {k} | {v} | {mc.get('ir:' + k, '')} |" for k, v in sorted(irk.items())]
        if self.flip_examples:
            md += ["", "## Examples of classified (non-failure) disagreements", ""]
            md += [f"- {e.get('kind', 'rounding_flip')}: seed {e['seed']} sample {e['sample']}: {e['detail']}"
                   for e in self.flip_examples]
        if self.failures:
            md += ["", "## Failures", ""]
            for f in self.failures:
                md.append(f"- seed {f['seed']} ({f['status']}): " + "; ".join(f["details"])[:800])
        return "\n".join(md) + "\n"
