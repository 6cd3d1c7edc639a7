"""Hardening of the runtime and the generated C, on small zoo models with randomized BN.

* strict warnings (-std=c99 -Wall -Wextra -Wconversion -Wpedantic -Werror) under gcc, clang and
  arm-none-eabi-gcc (Cortex-M4, compile only);
* AddressSanitizer + UndefinedBehaviorSanitizer (gcc and clang) through tests/c/sanitize_driver.c
  on random, zero and ±huge inputs: a clean run whose outputs equal host.predict bit for bit;
* reentrancy: two Python threads, two arenas, one library (ctypes releases the GIL), and no
  writable global in any object file;
* determinism: the same model exported twice gives byte-identical folders;
* static analysis: cppcheck (every file it analyses, headers included) and clang-tidy report nothing.
Each external tool is skipped, naming its Debian package, when it is missing.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import larq2mcu
from larq2mcu import paths
from larq2mcu.dev import zoo
from larq2mcu._tf import tf_modules

RUNTIME = paths.runtime_dir()
DRIVER = Path(__file__).parent / "c" / "sanitize_driver.c"
STRICT = ["-std=c99", "-Wall", "-Wextra", "-Wconversion", "-Wpedantic", "-Werror"]
DEBIAN = {"gcc": "gcc", "clang": "clang", "arm-none-eabi-gcc": "gcc-arm-none-eabi libnewlib-arm-none-eabi",
          "cppcheck": "cppcheck", "clang-tidy": "clang-tidy", "nm": "binutils"}
# name: (zoo builder, input shape) — together they use every kernel the zoo lowers to.
MODELS = {
    "mnist": ("mnist_bnn", (12, 12, 1)),          # float-input conv, b32 max pools, binary dense → bits
    "seed": ("seed_mixed_cnn", (12, 12, 1)),      # binary convs + bias, avg pool, dequantize, sigmoid
    "bireal": ("bireal_tiny", (8, 8, 1)),         # float stem, Add shortcuts, stride 2, global avg pool
    "dnet": ("densenet_tiny", (8, 8, 1)),         # concatenations, 1x1 binary conv, max pool on bits
    # the same models with optimized kernel variants: layer-specialized functions in the model .c
    "mnist_usad8": ("mnist_bnn", (12, 12, 1)),    # USADA8 engine when built for Cortex-M4
    "seed_builtin": ("seed_mixed_cnn", (12, 12, 1)),
    "bireal_hs": ("bireal_tiny", (8, 8, 1)),
    "dnet_hw": ("densenet_tiny", (8, 8, 1)),
}


def variant_of(key: str) -> str:
    """Kernel variant of a MODELS key: the suffix after '_' when it names one, else ref."""
    v = key.rsplit("_", 1)[-1] if "_" in key else "ref"
    return v if v in ("hs", "clz", "usad8", "zbb", "hw", "builtin") else "ref"


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} not installed (Debian package: {DEBIAN.get(tool, tool)})")
    return path


def run(cmd, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)


def build_model(key: str):
    """The zoo model `key` with deterministic weights and randomized BN statistics."""
    tf, keras, lq = tf_modules()
    builder, shape = MODELS[key]
    keras.utils.set_random_seed(7)
    model = getattr(zoo, builder)(input_shape=shape, num_classes=5)
    return zoo.randomize_bn(model, seed=11)


def probe_inputs(shape, seed: int = 0) -> np.ndarray:
    """Random samples plus the corner cases: zeros, −0.0, ±1e30, ±FLT_MAX mixes, subnormals."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    big = np.finfo(np.float32).max
    rows = [rng.normal(size=n), rng.uniform(-1, 1, n), np.zeros(n), np.full(n, -0.0),
            np.full(n, 1e30), np.full(n, -1e30), np.where(np.arange(n) % 2, 1e30, -1e30),
            rng.choice([-big, big], n), rng.choice([-1e-45, 1e-45], n), rng.normal(size=n) * 1e4]
    return np.stack(rows).astype(np.float32).reshape((len(rows),) + tuple(shape))


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """{key: Export} for every model of MODELS, exported once and built for the host."""
    root = tmp_path_factory.mktemp("hardening")
    out = {}
    for key in MODELS:
        exp = larq2mcu.export(build_model(key), root / key, name=key, kernel_variant=variant_of(key))
        exp.host = exp.build_host()
        out[key] = exp
    return out


def model_sources(exp) -> list:
    """The generated files of an export, without its copy of the runtime."""
    return [exp.out_dir / f"{exp.name}.c", exp.out_dir / f"{exp.name}_weights.c"]


# ------------------------------------------------------------------------------ warnings
COMPILERS = {
    "gcc": ["-O2"],
    "clang": ["-O2"],
    # Cortex-M4F: single-precision FPU only, so any double promotion would be a silent
    # software-float call; -Wdouble-promotion makes it an error.
    "arm-none-eabi-gcc": ["-O2", "-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16",
                          "-Wdouble-promotion"],
}


@pytest.mark.parametrize("cc", sorted(COMPILERS))
def test_strict_warnings(cc, exports, tmp_path):
    """The runtime and the generated C of every model compile without a single diagnostic."""
    exe = need(cc)
    sources = sorted(RUNTIME.glob("*.c")) + [s for e in exports.values() for s in model_sources(e)]
    incs = ["-I", RUNTIME] + [a for e in exports.values() for a in ("-I", e.out_dir)]
    r = run([exe, *STRICT, *COMPILERS[cc], "-c", *incs, *sources], cwd=tmp_path)
    assert r.returncode == 0 and not r.stderr.strip(), f"{cc}:\n{r.stderr}"
    assert len(list(tmp_path.glob("*.o"))) == len(sources)


# ------------------------------------------------------------------------------ sanitizers
# gcc builds the sanitized code at -O1 (optimized code, as shipped, with the checks); clang at -O0:
# its -O1 takes ~90 s on the 24 always-inline engine instantiations of l2m_binary_opt.c alone (5 s at
# -O0), and at -O0 ASan/UBSan instrument every access and operation (nothing optimized away), so the
# two compilers together check both optimized and unoptimized code.
SAN_OPT = {"gcc": "-O1", "clang": "-O0"}
SANITIZE = ["-g", "-fno-omit-frame-pointer", "-ffp-contract=off",
            "-fsanitize=address,undefined", "-fno-sanitize-recover=all"]
SAN_ENV = {"ASAN_OPTIONS": "detect_leaks=1:halt_on_error=1:detect_stack_use_after_return=1",
           "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}


def sanitizer_compiler(cc: str, tmp_path: Path) -> str:
    """Path of `cc` when it can link a sanitized program, else skip (clang needs compiler-rt)."""
    exe = need(cc)
    (tmp_path / "probe.c").write_text("int main(void) { return 0; }\n")
    r = run([exe, SAN_OPT[cc], *SANITIZE, tmp_path / "probe.c", "-o", tmp_path / "probe"])
    if r.returncode != 0:
        hint = " (Debian package: libclang-rt-14-dev)" if cc == "clang" else ""
        pytest.skip(f"{cc} cannot link -fsanitize=address,undefined{hint}:\n{r.stderr[-400:]}")
    return exe


@pytest.mark.parametrize("cc", ["gcc", "clang"])
def test_sanitizers(cc, exports, tmp_path):
    """Exact-size input/output/arena buffers (see the driver), poisoned arenas, corner inputs:
    no report, exit 0, and the outputs of the sanitized build equal host.predict bit for bit.
    The runtime is compiled once from firmware/runtime (each export's copy is byte-identical to
    it, see test_export_is_deterministic) and linked into one driver per model."""
    exe = sanitizer_compiler(cc, tmp_path)
    env = {**os.environ, **SAN_ENV}
    rt = tmp_path / "runtime"
    rt.mkdir()
    r = run([exe, *STRICT, SAN_OPT[cc], *SANITIZE, "-c", "-I", RUNTIME, *sorted(RUNTIME.glob("*.c"))], cwd=rt)
    assert r.returncode == 0 and not r.stderr.strip(), f"{cc} build of the runtime:\n{r.stderr}"
    runtime_objs = sorted(rt.glob("*.o"))
    for key, exp in exports.items():
        binary = tmp_path / f"{key}_driver"
        defs = [f"-DL2M_MODEL={key}", f"-DL2M_MODEL_UC={key.upper()}", f'-DL2M_MODEL_HEADER="{key}.h"']
        r = run([exe, *STRICT, SAN_OPT[cc], *SANITIZE, *defs, "-I", exp.out_dir, DRIVER, *model_sources(exp), *runtime_objs,
                 "-o", binary, "-lm"])
        assert r.returncode == 0 and not r.stderr.strip(), f"{cc} build of {key}:\n{r.stderr}"
        x = probe_inputs(exp.host.input_shape, seed=len(key))
        x.tofile(tmp_path / f"{key}_in.bin")
        r = run([binary, tmp_path / f"{key}_in.bin", tmp_path / f"{key}_out.bin"], env=env, timeout=120)
        assert r.returncode == 0 and not r.stderr.strip(), f"{cc} {key}: rc={r.returncode}\n{r.stderr[-3000:]}"
        got = np.fromfile(tmp_path / f"{key}_out.bin", np.float32)
        expect = exp.host.predict(x)
        assert got.size == expect.size, f"{key}: {got.size} floats written, {expect.size} expected"
        np.testing.assert_array_equal(got.view(np.uint32), expect.reshape(-1).view(np.uint32),
                                      err_msg=f"{cc} sanitized {key} differs from host.predict")


# ------------------------------------------------------------------------------ reentrancy
def test_two_threads_two_arenas(exports):
    """Two threads interleave inferences of one loaded library, each with its own arena and its
    own inputs; ctypes drops the GIL during each call, so kernels run truly concurrently on the
    two cores. Results equal the sequential ones, and the threads' time spans overlap."""
    for key, exp in exports.items():
        host = exp.host
        xs = [probe_inputs(host.input_shape, seed=1)[:2].repeat(6, axis=0), probe_inputs(host.input_shape, seed=2)]
        xs[0] = xs[0] + np.random.default_rng(3).normal(size=xs[0].shape).astype(np.float32)
        sequential = [host.predict(x) for x in xs]
        arenas = [host.new_arena(), host.new_arena()]
        barrier = threading.Barrier(2)
        results, spans, errors, started = [[], []], [None, None], [], [False, False]

        def work(k: int):
            try:
                barrier.wait()
                t0 = time.perf_counter()
                started[k] = True
                # at least 8 inferences, and keep going until the other thread has started too:
                # fast models could otherwise finish before the other thread is scheduled
                while len(results[k]) < 8 or (not all(started) and len(results[k]) < 100_000):
                    results[k].append(host.predict(xs[k], arena=arenas[k]))
                spans[k] = (t0, time.perf_counter())
            except Exception as e:  # surfaced below: an exception in a thread would be lost
                errors.append(e)

        threads = [threading.Thread(target=work, args=(k,)) for k in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, errors
        for k in (0, 1):
            for y in results[k]:
                np.testing.assert_array_equal(y.view(np.uint32), sequential[k].view(np.uint32),
                                              err_msg=f"{key}: thread {k} differs from sequential")
        assert spans[0][0] < spans[1][1] and spans[1][0] < spans[0][1], "threads did not overlap"


def test_no_writable_globals(exports, tmp_path):
    """Reentrancy by construction: no object file of the runtime or of a generated model has a
    symbol in .data/.bss (nm types b, B, d, D, C): weights and geometries are const. Built
    without PIC, as for a microcontroller: with PIE a const struct of pointers (<name>_weights)
    lands in .data.rel.ro, which nm also reports as D although it is read-only after loading."""
    cc, nm = need("gcc"), need("nm")
    sources = sorted(RUNTIME.glob("*.c")) + [s for e in exports.values() for s in model_sources(e)]
    incs = ["-I", RUNTIME] + [a for e in exports.values() for a in ("-I", e.out_dir)]
    r = run([cc, "-std=c99", "-O2", "-fno-pic", "-c", *incs, *sources], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    for obj in sorted(tmp_path.glob("*.o")):
        out = run([nm, "--defined-only", obj]).stdout
        writable = [line for line in out.splitlines() if line.split()[-2:-1] in (["b"], ["B"], ["d"], ["D"], ["C"])]
        assert not writable, f"{obj.name} has writable globals: {writable}"


def test_variant_exports_compute_what_ref_exports_compute(exports):
    """Each optimized-variant export gives the ref export's outputs bit for bit on the corner-case
    inputs (its layer-specialized functions against the _ref kernels, whole model)."""
    for key, exp in exports.items():
        if variant_of(key) == "ref":
            continue
        base = exports[key.rsplit("_", 1)[0]]
        x = probe_inputs(MODELS[key][1], seed=5)
        want = base.host.predict(x, check_finite=False)
        got = exp.host.predict(x, check_finite=False)
        assert np.array_equal(got.view(np.uint32), want.view(np.uint32)), key
        assert f"{key}_op" in exp.files[f"{key}.c"], f"{key}: no layer-specialized function"


# ------------------------------------------------------------------------------ determinism
def test_export_is_deterministic(exports, tmp_path):
    """Exporting the same Keras model again, twice, into new folders gives the same files, byte
    for byte, as the first export; the shipped runtime is firmware/runtime verbatim."""
    for key, exp in exports.items():
        dirs = [exp.out_dir]
        for i in range(2):
            dirs.append(larq2mcu.export(exp.model, tmp_path / f"{key}{i}", name=key,
                                        kernel_variant=variant_of(key)).out_dir)
        listings = [sorted(p.relative_to(d).as_posix() for p in d.rglob("*") if p.is_file()) for d in dirs]
        assert listings[0] == listings[1] == listings[2], f"{key}: file sets differ"
        for rel in listings[0]:
            blobs = [(d / rel).read_bytes() for d in dirs]
            assert blobs[0] == blobs[1] == blobs[2], f"{key}: {rel} differs between exports"
        for src in RUNTIME.iterdir():
            if src.suffix in (".c", ".h"):
                assert (exp.out_dir / src.name).read_bytes() == src.read_bytes(), src.name


# ------------------------------------------------------------------------------ static analysis
# Findings reported to the owners, documented here until fixed (strict xfail: a fix turns the
# test into XPASS, i.e. a failure that asks for the entry to be removed).
KNOWN_FINDINGS: dict = {}
STATIC_TARGETS = sorted(p.name for p in RUNTIME.glob("*.c")) + ["<model>.c", "<model>_weights.c"]
# cppcheck also analyses (and reports findings in) every header the sources include — the
# always-inline engines live in headers — so each header is a target of its own too.
CPPCHECK_TARGETS = (sorted(p.name for p in RUNTIME.glob("*.[ch]"))
                    + ["<model>.c", "<model>_weights.c", "<model>.h", "<model>_weights.h"])


def static_target(name: str):
    """pytest.param for one analyzed file, xfail(strict) when it has a known finding."""
    marks = [pytest.mark.xfail(strict=True, reason=KNOWN_FINDINGS[name])] if name in KNOWN_FINDINGS else []
    return pytest.param(name, marks=marks, id=name)


def resolve(name: str, exp) -> Path:
    return exp.out_dir / name.replace("<model>", exp.name) if name.startswith("<model>") else RUNTIME / name


# unusedFunction is off: the runtime is a library whose functions only generated code calls.
CPPCHECK = ["--enable=warning,style,performance,portability", "--std=c99", "--inline-suppr", "--quiet",
            "--suppress=missingIncludeSystem", "--template={file}:{line}: {severity} [{id}] {message}"]


@pytest.fixture(scope="module")
def cppcheck_report(exports) -> list:
    """cppcheck's findings over the runtime and one generated model, analysed together so that
    its whole-program (cross translation unit) checks see every call."""
    exe = need("cppcheck")
    exp = exports["dnet"]
    files = [resolve(n, exp) for n in STATIC_TARGETS]
    r = run([exe, *CPPCHECK, "-I", RUNTIME, *files])
    assert r.returncode == 0, r.stderr
    return [line for line in r.stderr.splitlines() if line.strip()]


def finding_file(line: str) -> str:
    """The file name a cppcheck finding names. By name, not path: a runtime header is analysed
    both as firmware/runtime's and as the export folder's copy (the model .c includes that one)."""
    return Path(line.split(":", 1)[0]).name


@pytest.mark.parametrize("name", [static_target(n) for n in CPPCHECK_TARGETS])
def test_cppcheck(name, exports, cppcheck_report):
    assert resolve(name, exports["dnet"]).is_file(), name
    base = name.replace("<model>", exports["dnet"].name)
    findings = [line for line in cppcheck_report if finding_file(line) == base]
    assert not findings, "\n".join(findings)


def test_cppcheck_reports_nothing_anywhere(cppcheck_report):
    """Zero findings in every file analysed, whatever it is (a header missing from
    CPPCHECK_TARGETS, a system header): each line of the report is a finding."""
    findings = [line for line in cppcheck_report if finding_file(line) not in KNOWN_FINDINGS]
    assert not findings, "\n".join(findings)


# Excluded: bugprone-easily-swappable-parameters (every kernel takes several int32 sizes by
# design: the signatures are the documented contract) and bugprone-implicit-widening-of-
# multiplication-result (int32 index products widened to pointer offsets: tensors are far below
# 2^31 elements on a microcontroller, and the int32 contract is deliberate).
TIDY_CHECKS = ("-*,clang-analyzer-*,bugprone-*,cert-*,portability-*,misc-*,"
               "-bugprone-easily-swappable-parameters,-bugprone-implicit-widening-of-multiplication-result")


@pytest.mark.parametrize("name", [static_target(n) for n in STATIC_TARGETS if n not in ("<model>.c",)]
                         + [pytest.param("<model>.c", id="<model>.c")])
def test_clang_tidy(name, exports):
    exe = need("clang-tidy")
    exp = exports["dnet"]
    r = run([exe, "--quiet", f"-checks={TIDY_CHECKS}", "--warnings-as-errors=*", resolve(name, exp), "--",
             "-std=c99", "-I", RUNTIME, "-I", exp.out_dir])
    findings = [line for line in r.stdout.splitlines() if ": warning:" in line or ": error:" in line]
    assert r.returncode == 0 and not findings, "\n".join(findings) or r.stderr[-2000:]
