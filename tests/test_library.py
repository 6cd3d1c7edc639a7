"""Every export is a drop-in library: CMake (host and arm cross build, and the ESP-IDF component
branch), a Make fragment, library.json, and the Arduino layout (`--layout arduino`), each built
with the compilers here; the kernel variant comes from the target CPU (boards.yaml)."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import larq2mcu
from larq2mcu import library
from larq2mcu.board.profiles import load_boards, parse_boards
from larq2mcu.errors import BoardError

ARM_CC = shutil.which("arm-none-eabi-gcc")
CMAKE = shutil.which("cmake")
M4F = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]
WARN = "-Wall -Wextra -Wconversion -Werror"


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tfm):
    _, keras, lq = tfm
    keras.utils.set_random_seed(3)
    kw = dict(input_quantizer="ste_sign", kernel_quantizer="ste_sign", kernel_constraint="weight_clip")
    m = keras.Sequential([keras.Input((8, 8, 1)), lq.layers.QuantConv2D(8, 3, kernel_quantizer="ste_sign",
                                                                        kernel_constraint="weight_clip"),
                          keras.layers.BatchNormalization(), keras.layers.Flatten(),
                          lq.layers.QuantDense(10, **kw), keras.layers.BatchNormalization()])
    m.build((None, 8, 8, 1))
    exp = larq2mcu.export(m, tmp_path_factory.mktemp("lib") / "tiny", name="tiny", kernel_variant="usad8")
    return exp


@pytest.fixture(scope="module")
def host(exported):
    return exported.build_host()


def _cmake(src: Path, build: Path, *args):
    r = subprocess.run([CMAKE, "-S", str(src), "-B", str(build), "-DCMAKE_BUILD_TYPE=MinSizeRel", *args],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([CMAKE, "--build", str(build), "-j", "2", "--", "VERBOSE=1"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


@pytest.mark.skipif(CMAKE is None, reason="cmake missing")
def test_cmake_host_app_matches_host_library(exported, host, tmp_path):
    """add_subdirectory(export) + target_link_libraries(app tiny): the app's outputs are
    bit-identical to the library larq2mcu builds itself; the sources get the required flags."""
    app = tmp_path / "app"
    app.mkdir()
    (app / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.13)\nproject(app C)\n"
        f"add_subdirectory({exported.out_dir} tiny)\nadd_executable(app main.c)\n"
        "target_link_libraries(app PRIVATE tiny)\n")
    (app / "main.c").write_text(
        '#include <stdio.h>\n#include <string.h>\n#include "tiny.h"\n'
        "static double arena[(TINY_ARENA_SIZE + 7) / 8];\n"
        "int main(void) {\n  float in[TINY_INPUT_LEN], out[TINY_OUTPUT_LEN];\n"
        "  if (fread(in, sizeof in, 1, stdin) != 1) return 3;\n"
        "  if (tiny_invoke(in, out, arena) != 0) return 4;\n"
        "  fwrite(out, sizeof out, 1, stdout);\n  return 0;\n}\n")
    log = _cmake(app, tmp_path / "b")
    assert "-ffp-contract=off" in log and "-fno-strict-aliasing" in log and "-std=c99" in log
    x = np.random.default_rng(0).normal(size=(1, 8, 8, 1)).astype(np.float32)
    r = subprocess.run([str(tmp_path / "b" / "app")], input=x.tobytes(), capture_output=True)
    assert r.returncode == 0, r.stderr
    want = host.predict(x, check_finite=False).astype(np.float32)
    np.testing.assert_array_equal(np.frombuffer(r.stdout, np.uint32), want.view(np.uint32).ravel())


@pytest.mark.skipif(CMAKE is None or ARM_CC is None, reason="cmake or arm-none-eabi-gcc missing")
def test_cmake_arm_cross_build(exported, tmp_path):
    tc = tmp_path / "arm.cmake"
    tc.write_text("set(CMAKE_SYSTEM_NAME Generic)\nset(CMAKE_SYSTEM_PROCESSOR arm)\n"
                  "set(CMAKE_C_COMPILER arm-none-eabi-gcc)\nset(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)\n"
                  f'set(CMAKE_C_FLAGS_INIT "{" ".join(M4F)} {WARN}")\n')
    _cmake(exported.out_dir, tmp_path / "b", f"-DCMAKE_TOOLCHAIN_FILE={tc}")
    syms = subprocess.run(["arm-none-eabi-nm", str(tmp_path / "b" / "libtiny.a")], capture_output=True, text=True).stdout
    assert " T tiny_invoke" in syms


@pytest.mark.skipif(CMAKE is None, reason="cmake missing")
def test_cmake_esp_idf_component_branch(exported, tmp_path):
    """With ESP_PLATFORM set the CMakeLists registers an ESP-IDF component (idf_component_register
    stubbed here the way IDF defines it: a library named by COMPONENT_LIB) and adds the flags to it."""
    proj = tmp_path / "idf"
    proj.mkdir()
    (proj / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.13)\nproject(idfsim C)\nset(ESP_PLATFORM 1)\n"
        "macro(idf_component_register)\n  cmake_parse_arguments(IDF \"\" \"\" \"SRCS;INCLUDE_DIRS\" ${ARGN})\n"
        "  set(COMPONENT_LIB __idf_tiny)\n  add_library(${COMPONENT_LIB} STATIC ${IDF_SRCS})\n"
        "  target_include_directories(${COMPONENT_LIB} PUBLIC ${IDF_INCLUDE_DIRS})\nendmacro()\n"
        f"add_subdirectory({exported.out_dir} tiny)\n")
    r = subprocess.run([CMAKE, "-S", str(proj), "-B", str(tmp_path / "b")], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr          # configure only: the compiles are tested above
    flags = (tmp_path / "b" / "tiny" / "CMakeFiles" / "__idf_tiny.dir" / "flags.make").read_text()
    assert "-ffp-contract=off" in flags and "-fno-strict-aliasing" in flags and "-std=c99" in flags
    assert f"-I{exported.out_dir}" in flags
    assert not (tmp_path / "b" / "tiny" / "CMakeFiles" / "tiny.dir").exists()   # the plain-CMake branch did not run


@pytest.mark.skipif(ARM_CC is None, reason="arm-none-eabi-gcc missing")
def test_make_fragment_cubemx_style(exported, tmp_path):
    """<name>.mk in a Makefile shaped like STM32CubeMX's adds every source and the include path;
    our objects get the flags, the project's own do not."""
    (tmp_path / "main.c").write_text('#include "tiny.h"\nint use(const float *i, float *o, void *a) '
                                     '{ return tiny_invoke(i, o, a); }\n')
    (tmp_path / "Makefile").write_text(
        "BUILD_DIR = build\nC_SOURCES = main.c\nC_INCLUDES =\n"
        f"CFLAGS = {' '.join(M4F)} $(C_INCLUDES) -Os {WARN}\n"
        f"include {exported.out_dir}/tiny.mk\n"
        "OBJECTS = $(addprefix $(BUILD_DIR)/,$(notdir $(C_SOURCES:.c=.o)))\n"
        "vpath %.c $(sort $(dir $(C_SOURCES)))\nall: $(OBJECTS)\n"
        "$(BUILD_DIR)/%.o: %.c | $(BUILD_DIR)\n\tarm-none-eabi-gcc -c $(CFLAGS) $< -o $@\n"
        "$(BUILD_DIR):\n\tmkdir -p $@\n")
    dry = subprocess.run(["make", "-n", "-B", "-C", str(tmp_path)], capture_output=True, text=True)
    assert dry.returncode == 0, dry.stderr           # the compiles themselves: test_cmake_arm_cross_build
    lines = {ln.split()[-1]: ln for ln in dry.stdout.splitlines() if " -o " in ln}
    assert {f"build/{c.stem}.o" for c in exported.out_dir.glob("*.c")} | {"build/main.o"} == set(lines)
    assert "-ffp-contract=off" in lines["build/tiny.o"] and "-ffp-contract=off" not in lines["build/main.o"]


def test_library_json(exported):
    lj = json.loads((exported.out_dir / "library.json").read_text())
    assert lj["name"] == "tiny" and lj["build"]["flags"] == list(library.FLAGS)
    assert "usad8" in lj["description"]


@pytest.mark.skipif(ARM_CC is None, reason="arm-none-eabi-gcc missing")
def test_arduino_layout_compiles_without_fma(exported, tmp_path):
    """The Arduino copy compiles warning-free with Arduino-style flags (GNU C, -Os, no
    -ffp-contract) and its pragma keeps GCC from fusing a*b+c: no vfma in the objects, while the
    plain sources built the same way do contain vfma (so the check can fail)."""
    files = {p.name: p.read_text() for p in exported.out_dir.iterdir() if p.suffix in (".c", ".h")}
    lay = library.arduino_layout("tiny", dict(files, **{"library.json": "{}"}), "usad8")
    assert "library.properties" in lay and "src/tiny.h" in lay and "src/library.json" not in lay
    props = dict(ln.split("=", 1) for ln in lay["library.properties"].splitlines() if "=" in ln)
    assert props["name"] == "tiny" and props["includes"] == "tiny.h"
    for rel, text in lay.items():
        (tmp_path / "ard" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "ard" / rel).write_text(text)

    def fused(sources, out: Path) -> int:
        out.mkdir()
        r = subprocess.run([ARM_CC, "-std=gnu11", "-Os", *M4F, "-Wall", "-Wextra", "-Werror", "-c",
                            *map(str, sources)], capture_output=True, text=True, cwd=out)
        assert r.returncode == 0, r.stderr
        dis = subprocess.run(["arm-none-eabi-objdump", "-d", *map(str, sorted(out.glob("*.o")))],
                             capture_output=True, text=True).stdout
        return dis.count("vfma") + dis.count("vfms")
    assert fused(sorted((tmp_path / "ard" / "src").glob("*.c")), tmp_path / "o_ard") == 0
    assert fused([exported.out_dir / "l2m_float.c"], tmp_path / "o_plain") > 0
    # the example sketch against the library header, with a stand-in for the Arduino core's API
    if shutil.which("arm-none-eabi-g++") is None:
        return
    (tmp_path / "stub").mkdir()
    (tmp_path / "stub" / "Arduino.h").write_text(
        "struct S { void begin(long) {} template <class T> void print(T) {} template <class T> void println(T) {} };\n"
        "extern S Serial; unsigned long micros(void); void delay(unsigned long);\n")
    sketch = tmp_path / "ard" / "examples" / "tiny_demo" / "tiny_demo.ino"
    r = subprocess.run(["arm-none-eabi-g++", "-x", "c++", "-include", "Arduino.h", "-std=gnu++17", "-Os", *M4F,
                        "-Wall", "-Wextra", "-Werror", "-I", str(tmp_path / "stub"), "-I", str(tmp_path / "ard" / "src"),
                        "-c", str(sketch), "-o", str(tmp_path / "sketch.o")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr

def test_cpu_variant_table_matches_boards_yaml():
    from larq2mcu.variants import CPU_VARIANTS, variant_for_cpu
    boards = load_boards()
    assert all(CPU_VARIANTS[b.cpu] == b.kernel_variant for b in boards.values())
    assert variant_for_cpu("cortex-m4") == "usad8" and variant_for_cpu("Cortex-M0plus") == "hs"
    with pytest.raises(BoardError, match="unknown cpu 'cortex-m5'.*cortex-m"):
        variant_for_cpu("cortex-m5")


def test_cpu_variant_table_rejects_disagreeing_boards(tmp_path):
    """A board whose kernel_variant is not its cpu's (variants.CPU_VARIANTS) is refused at load."""
    import yaml
    from larq2mcu.paths import boards_yaml
    doc = yaml.safe_load(boards_yaml().read_text())
    doc["boards"]["nucleo_f446re"]["kernel_variant"] = "hs"
    with pytest.raises(BoardError, match="nucleo_f446re.*cortex-m4.*usad8"):
        parse_boards(doc)


def test_verify_chunks_merge_to_the_whole(exported, host):
    """`larq2mcu verify` compares in chunks (for its progress bar); merged, the chunks give the
    Agreement of one comparison over all samples."""
    from larq2mcu.cli_util import merge_agreements
    from larq2mcu.verify import compare
    x = np.random.default_rng(7).normal(size=(30, 8, 8, 1)).astype(np.float32)
    whole = compare(exported, host, x)
    merged = merge_agreements([compare(exported, host, x[:17]), compare(exported, host, x[17:])])
    assert merged.n == whole.n == 30 and merged.bit_tensors == whole.bit_tensors
    assert merged.max_abs_diff == whole.max_abs_diff and merged.ok == whole.ok
    assert merged.argmax_agreement == pytest.approx(whole.argmax_agreement)
    assert merged.summary() == whole.summary()
