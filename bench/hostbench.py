"""Host x86-64: the generated C (`_hw` kernels, cc -O2 -mpopcnt) vs Larq Compute Engine's
interpreter, single-threaded, wall-clock per inference.

Contract: `host_vs_lce(model, exp_dir, name, x, workdir)` → {"l2m_us", "lce_us", "ratio"} or with
"lce_error" when LCE cannot convert/run the model. `exp_dir` is an export made with
kernel_variant="hw". Both sides are timed on the same single sample; each figure is the median
over REPEATS rounds of the mean over BATCH inferences (a round of the C side is timed inside C
with CLOCK_MONOTONIC, so no Python call overhead; LCE's predict gets the batch at once, so its
Python overhead is spread over BATCH samples). ratio = lce_us / l2m_us (> 1: larq2mcu faster).
"""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import numpy as np

REPEATS, BATCH = 21, 50
CFLAGS = ["-std=gnu99", "-O2", "-mpopcnt", "-ffp-contract=off", "-fno-strict-aliasing", "-w"]

MAIN_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <time.h>
#include "%(name)s.h"
static uint64_t arena[(%(NAME)s_ARENA_SIZE + 7) / 8 + 1];
static float in[%(NAME)s_INPUT_LEN], out[%(NAME)s_OUTPUT_LEN];
static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y);
}
int main(int argc, char **argv) {
    int reps = atoi(argv[1]), batch = atoi(argv[2]);
    FILE *f = fopen(argv[3], "rb");
    if (!f || fread(in, sizeof in, 1, f) != 1) return 3;
    fclose(f);
    double t[256];
    for (int w = 0; w < batch; w++) %(name)s_invoke(in, out, arena);    /* warm caches */
    for (int r = 0; r < reps && r < 256; r++) {
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (int i = 0; i < batch; i++) %(name)s_invoke(in, out, arena);
        clock_gettime(CLOCK_MONOTONIC, &b);
        t[r] = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / batch / 1e3;
    }
    qsort(t, (size_t)reps, sizeof t[0], cmp);
    printf("%%.3f %%a\n", t[reps / 2], (double)out[0]);
    return 0;
}
"""


def time_c(exp_dir: Path, name: str, x: np.ndarray, workdir: Path) -> float:
    """Median µs per inference of the export in `exp_dir` built for the host."""
    workdir.mkdir(parents=True, exist_ok=True)
    main = workdir / "bench_main.c"
    main.write_text(MAIN_C % {"name": name, "NAME": name.upper()})
    exe = workdir / "bench_host"
    srcs = sorted(str(p) for p in Path(exp_dir).glob("*.c"))
    subprocess.run([os.environ.get("CC", "cc"), *CFLAGS, f"-I{exp_dir}", *srcs, str(main), "-o", str(exe), "-lm"],
                   check=True, capture_output=True, text=True)
    xin = workdir / "x.bin"
    np.asarray(x, np.float32).ravel().tofile(xin)
    r = subprocess.run(["taskset", "-c", "0", str(exe), str(REPEATS), str(BATCH), str(xin)],
                       check=True, capture_output=True, text=True)
    return float(r.stdout.split()[0])


def time_lce(model, x: np.ndarray) -> float:
    """Median µs per inference of LCE's interpreter (num_threads=1)."""
    import larq_compute_engine as lce
    it = lce.testing.Interpreter(lce.convert_keras_model(model), num_threads=1)
    xb = np.repeat(np.asarray(x, np.float32).reshape(1, *x.shape[1:]), BATCH, axis=0)
    it.predict(xb[:1])
    t = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        it.predict(xb)
        t.append((time.perf_counter() - t0) / BATCH * 1e6)
    return float(np.median(t))


def host_vs_lce(model, exp_dir: Path, name: str, x: np.ndarray, workdir: Path) -> dict:
    """See the module docstring."""
    res = {"l2m_us": round(time_c(exp_dir, name, x, workdir), 2)}
    try:
        res["lce_us"] = round(time_lce(model, x), 2)
        res["ratio"] = round(res["lce_us"] / res["l2m_us"], 2)
    except Exception as e:     # LCE's converter rejects some layer patterns: report, don't fail
        res["lce_error"] = f"{type(e).__name__}: {str(e)[:200]}"
    return res
