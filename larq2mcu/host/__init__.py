"""Host build of an exported model: cc → shared library → ctypes.

`build(out_dir, name, graph, plan)` compiles every .c of the export with the warning flags the
project promises (-std=c99 -Wall -Wextra -Wconversion -Werror) and -ffp-contract=off (no fused
multiply-add: the float kernels round like the numpy reference) and -fno-strict-aliasing (the
arena is one buffer read as floats and as packed words; see <name>.h), into a private temporary folder
(the user's output folder is never written to), and returns a HostModel.
"""
from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
import weakref
from pathlib import Path

import numpy as np

from .. import bits, ir, objcache
from ..errors import BuildError, InputError, ToolchainMissingError

CFLAGS = ["-std=c99", "-O2", "-fPIC", "-shared", "-Wall", "-Wextra", "-Wconversion", "-Werror",
          "-ffp-contract=off", "-fno-strict-aliasing"]


def compiler() -> str:
    """The host C compiler, $CC (default `cc`); ToolchainMissingError when it is not on PATH."""
    cc = os.environ.get("CC", "cc")
    if shutil.which(cc) is None:
        raise ToolchainMissingError(f"C compiler '{cc}' not found; install gcc (apt-get install gcc) or set CC")
    return cc


def compile_shared(src_dir: Path, out_so: Path, extra=()) -> None:
    """Compile every .c of `src_dir` into the shared library `out_so` (CFLAGS + `extra`, -lm); BuildError
    with the compiler's stderr on failure."""
    build_shared(sorted(Path(src_dir).glob("*.c")), out_so, [src_dir], extra)


def build_shared(sources, out_so: Path, includes=(), extra=(), cc: str | None = None) -> None:
    """Compile `sources` (CFLAGS + `extra`, -I each of `includes`) and link them with -lm into the
    shared library `out_so`; BuildError with the compiler's stderr on failure. Each file is compiled
    to an object of its own, in parallel, through the object cache (objcache.py: the runtime files
    are the same in every export), then the objects are linked."""
    cc = cc or compiler()
    flags = [f for f in CFLAGS if f != "-shared"]
    incs = [a for d in includes for a in ("-I", str(d))]

    def run(cmd):
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise BuildError(f"host compilation failed:\n{' '.join(cmd)}\n{r.stderr.strip()}")

    with tempfile.TemporaryDirectory(prefix="l2m-obj-") as tmp:
        objs = [str(Path(tmp) / f"{i:02d}_{Path(src).stem}.o") for i, src in enumerate(sources)]
        cmds = [[cc, *flags, *extra, *incs, "-c", str(src), "-o", obj] for src, obj in zip(sources, objs)]
        with ThreadPoolExecutor(max_workers=max(1, min(len(cmds), os.cpu_count() or 1))) as pool:
            for f in [pool.submit(objcache.compile_cached, c, run) for c in cmds]:
                f.result()            # the first failure (in file order) is the one reported
        run([cc, "-shared", *objs, "-o", str(out_so), "-lm"])


# <name>_invoke_checked statuses (firmware/runtime/l2m_kernels.h) → what predict() says
STATUS = {-1: "a NULL pointer", -2: "a misaligned arena, input or output", -3: "an arena smaller than the model needs",
          -4: "an input or output lying inside the arena"}


class HostModel:
    """The exported C model loaded in this process. `close()` (or leaving a `with` block) unloads
    the library and removes its build folder; afterwards every call raises InputError."""

    def __init__(self, so_path: Path, name: str, graph: ir.Graph, plan, workdir: Path):
        self.graph, self.plan, self.name = graph, plan, name
        self._lib = ctypes.CDLL(str(so_path))
        self._invoke = getattr(self._lib, f"{name}_invoke_checked")
        # <name>_invoke_checked(input, one pointer per model output, arena, arena_bytes)
        self._invoke.argtypes = [ctypes.c_void_p] * (2 + len(graph.outputs)) + [ctypes.c_size_t]
        self._invoke.restype = ctypes.c_int
        self._partial = getattr(self._lib, f"{name}_invoke_partial")
        self._partial.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32]
        self._partial.restype = ctypes.c_int
        # exports from before _invoke_range (and hand-written test programs) lack it: prefix re-runs then
        self._range = getattr(self._lib, f"{name}_invoke_range", None)
        if self._range is not None:
            self._range.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int32, ctypes.c_int32]
            self._range.restype = ctypes.c_int
        self.input_shape = graph.tensors[graph.inputs[0]].shape
        self.output_shapes = [tuple(graph.tensors[t].shape) for t in graph.outputs]
        self.output_names = [graph.output_name(i) for i in range(len(graph.outputs))]
        self.output_shape = self.output_shapes[0]       # the (first) output's shape
        self.arena_size = plan.arena_size
        self._finalizer = weakref.finalize(self, shutil.rmtree, str(workdir), True)

    def close(self) -> None:
        """dlclose the library and remove the build folder; idempotent."""
        lib, self._lib, self._invoke, self._partial, self._range = self._lib, None, None, None, None
        if lib is not None:
            import _ctypes
            try:
                _ctypes.dlclose(lib._handle)
            except OSError:
                pass
        self._finalizer()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _open(self):
        if self._lib is None:
            raise InputError(f"the host build of '{self.name}' was closed; build it again (Export.build_host())")

    def check_arena(self, arena) -> np.ndarray:
        """The arena contract of <name>.h, checked from Python: a writeable, C-contiguous ndarray of
        a plain numeric dtype, ≥ arena_size bytes, 8-byte aligned; else InputError."""
        if not isinstance(arena, np.ndarray):
            raise InputError(f"arena must be a numpy array (see new_arena()), got {type(arena).__name__}")
        if arena.dtype.hasobject or arena.dtype.kind not in "biufc":
            raise InputError(f"arena dtype {arena.dtype} is not a plain numeric dtype; use new_arena()")
        if not arena.flags.c_contiguous or not arena.flags.writeable:
            raise InputError("arena must be a writeable C-contiguous array; use new_arena()")
        if arena.nbytes < self.arena_size:
            raise InputError(f"arena holds {arena.nbytes} bytes, the model needs {self.arena_size} "
                             f"({self.name.upper()}_ARENA_SIZE); use new_arena()")
        if arena.ctypes.data % 8:
            raise InputError("arena is not 8-byte aligned (the C code reads 64-bit words); use new_arena()")
        return arena

    def new_arena(self) -> np.ndarray:
        """A zeroed arena; float64 storage guarantees the 8-byte alignment the C code checks."""
        return np.zeros(max(1, (self.arena_size + 7) // 8), np.float64)

    def _check(self, x, check_finite: bool) -> np.ndarray:
        a = np.asarray(x)
        if a.dtype.kind not in "biuf":
            raise InputError(f"input dtype {a.dtype} is not numeric; pass a float32 array")
        if a.shape[1:] != tuple(self.input_shape):
            raise InputError(f"input shape {a.shape} does not match the model: expected (N, "
                             f"{', '.join(map(str, self.input_shape))})")
        byte_t = {ir.U8: np.uint8, ir.I8: np.int8}.get(self.graph.tensors[self.graph.inputs[0]].dtype)
        if byte_t is not None:                 # raw-byte input (export input_dtype): integers in range only
            lo, hi = np.iinfo(byte_t).min, np.iinfo(byte_t).max
            with np.errstate(invalid="ignore"):
                ok = np.all(np.isfinite(a)) and np.all(a == np.round(a)) and np.all((a >= lo) & (a <= hi))
            if not ok:
                raise InputError(f"this model takes raw {np.dtype(byte_t).name} bytes: integers in [{lo}, {hi}]")
            return np.ascontiguousarray(a, dtype=byte_t)
        a = np.ascontiguousarray(a, dtype=np.float32)
        if check_finite and not np.all(np.isfinite(a)):
            raise InputError("input contains NaN or infinite values (pass check_finite=False to run anyway; "
                             "NaN then binarizes to +1)")
        return a

    @property
    def num_outputs(self) -> int:
        """Number of model outputs (len(model.outputs))."""
        return len(self.output_shapes)

    def predict(self, x, check_finite: bool = True, arena: np.ndarray | None = None):
        """Run the C model on each sample of batch `x` (N, *input shape) → (N, *output shape), or,
        for a model with several outputs, a list with one such array per output in model order
        (what Keras' model.predict returns).

        Inputs of any real numeric dtype are cast to float32 (as Keras does). Non-finite values
        raise InputError unless check_finite=False."""
        self._open()
        a = self._check(x, check_finite)
        outs = [np.zeros((a.shape[0],) + shape, np.float32) for shape in self.output_shapes]
        arena = self.new_arena() if arena is None else self.check_arena(arena)
        for i in range(a.shape[0]):
            st = self._invoke(a[i].ctypes.data, *(o[i].ctypes.data for o in outs), arena.ctypes.data, arena.nbytes)
            if st != 0:
                raise InputError(f"{self.name}_invoke_checked refused sample {i}: status {st} "
                                 f"({STATUS.get(st, 'unknown status')})")
        return outs[0] if len(outs) == 1 else outs

    def intermediates(self, x, tensors) -> dict:
        """Logical values of the named tensors for each sample (bits as int8 ±1), computed by
        stepping the C code through its kernel calls once per sample (`_invoke_range`) and reading
        each tensor from the arena right after the call producing it (before the planner lets a
        later tensor reuse its bytes): linear in the number of ops."""
        self._open()
        a = self._check(x, False)
        step_of = {op.output: i for i, op in enumerate(self.graph.ops)}
        wanted = sorted({step_of[t] for t in tensors if t not in self.graph.inputs})
        at = {k: [t for t in tensors if step_of.get(t) == k] for k in wanted}
        res = {t: [] for t in tensors}
        arena = self.new_arena()
        for s in range(a.shape[0]):
            for t in tensors:
                if t in self.graph.inputs:
                    res[t].append(a[s])
            done = 0
            for k in wanted:
                st = (self._range(a[s].ctypes.data, arena.ctypes.data, done, k + 1) if self._range is not None
                      else self._partial(a[s].ctypes.data, arena.ctypes.data, k + 1))
                if st != 0:
                    raise RuntimeError(f"{self.name}_invoke_range returned {st}")
                done = k + 1
                for t in at[k]:
                    res[t].append(self._read(arena, t, a[s]))
        return {t: np.stack(v) for t, v in res.items()}

    def _read(self, arena: np.ndarray, t: str, sample: np.ndarray) -> np.ndarray:
        tt = self.graph.tensors[t]
        off = self.plan.offset(t)
        if off is None:
            return sample.reshape(tt.shape)
        raw = arena.view(np.uint8)[off:off + tt.nbytes]
        if tt.dtype == ir.F32:
            return raw.view(np.float32).reshape(tt.shape).copy()
        groups, c = tt.packing
        words = raw.view(np.uint32).reshape(groups, bits.words(c))
        return bits.unpack(words, c).reshape(tt.shape)


def build(src_dir, name: str, graph: ir.Graph, plan) -> HostModel:
    """Compile the C library in `src_dir` into a HostModel in a fresh temporary folder (removed on failure)."""
    work = Path(tempfile.mkdtemp(prefix="larq2mcu-host-"))
    so = work / f"lib{name}.so"
    try:
        compile_shared(Path(src_dir), so)
    except Exception:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return HostModel(so, name, graph, plan, work)
