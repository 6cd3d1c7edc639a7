"""SCons builder for the l2m-qemu platform.

Builds src/ + lib/ + larq2mcu's firmware/targets/<arch> board support with the board's Debian
cross toolchain, links with the per-arch linker script (memory map via --defsym, as in
larq2mcu.board.build), and defines `exec` / `upload` targets that run the ELF in QEMU with
semihosting; QEMU exits with the guest's status, so a failing guest fails `pio run`.
"""
import os
import subprocess

from SCons.Script import AlwaysBuild, Default, DefaultEnvironment

env = DefaultEnvironment()
platform = env.PioPlatform()
board = env.BoardConfig()

arch = board.get("build.l2m_arch")
prefix = board.get("build.l2m_toolchain")
package = {"arm": "toolchain-l2m-arm", "riscv": "toolchain-l2m-riscv", "xtensa": "toolchain-l2m-lx106"}[arch]
tc_dir = platform.get_package_dir(package)
if tc_dir and os.path.isdir(os.path.join(tc_dir, "bin")):
    env.PrependENVPath("PATH", os.path.join(tc_dir, "bin"))   # else: plain PATH (/usr/bin)

# firmware/targets: set by larq2mcu in platformio.ini (board_build.l2m_targets_dir); otherwise
# found beside this platform in a larq2mcu checkout (symlink:// keeps that relation).
targets = board.get("build.l2m_targets_dir", "") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.realpath(platform.get_dir()))), "targets")
no_libc = prefix in ("riscv64-unknown-elf", "xtensa-lx106-elf")

env.Replace(AR=prefix + "-ar", AS=prefix + "-as", CC=prefix + "-gcc", CXX=prefix + "-g++",
            GDB=prefix + "-gdb", OBJCOPY=prefix + "-objcopy", RANLIB=prefix + "-ranlib",
            SIZETOOL=prefix + "-size", PROGSUFFIX=".elf",
            SIZEPROGREGEXP=r"^(?:\.text|\.data|\.rodata|\.vectors|\.reset)\s+(\d+).*",
            SIZEDATAREGEXP=r"^(?:\.data|\.bss)\s+(\d+).*",
            SIZECHECKCMD="$SIZETOOL -A -d $SOURCES", SIZEPRINTCMD="$SIZETOOL -B -d $SOURCES")

mflags = list(board.get("build.l2m_cflags"))
ccflags = mflags + ["-O2", "-g", "-ffreestanding", "-ffunction-sections", "-fdata-sections",
                    "-ffp-contract=off", "-fno-strict-aliasing", "-Wall", "-Wextra", "-Wconversion", "-Werror"]
if no_libc:
    ccflags += ["-isystem", os.path.join(targets, "include")]
cycles = board.get("build.l2m_cycles", "")
env.Append(CFLAGS=["-std=c99"], CCFLAGS=ccflags, ASPPFLAGS=mflags, ASFLAGS=mflags,
           CPPDEFINES=[cycles] if cycles else [],
           CPPPATH=[targets, os.path.join(targets, arch)])

defsyms = "-Wl,--defsym=__flash=%s,--defsym=__flash_size=%s,--defsym=__ram=%s,--defsym=__ram_size=%s" % (
    board.get("build.l2m_flash"), board.get("build.l2m_flash_size"),
    board.get("build.l2m_ram"), board.get("build.l2m_ram_size"))
linkflags = mflags + [defsyms, "-Wl,--gc-sections"]
if arch == "arm":
    env.Append(LINKFLAGS=linkflags + ["-nostartfiles", "--specs=nano.specs", "-T",
                                      os.path.join(targets, "arm", "cm.ld")], LIBS=["m"])
    srcs = "+<arm/*.c>"
elif arch == "riscv":
    # rv32imc_zbb etc. select the rv64 default multilib: ask for the base ISA's libgcc
    base = [f.split("_", 1)[0] if f.startswith("-march=") else f for f in mflags
            if f.startswith(("-march=", "-mabi="))]
    libgcc = subprocess.run([prefix + "-gcc"] + base + ["-print-libgcc-file-name"],
                            capture_output=True, text=True, env={"PATH": env["ENV"]["PATH"]}).stdout.strip()
    env.Append(LINKFLAGS=linkflags + ["-nostdlib", "-T", os.path.join(targets, "riscv", "rv.ld")],
               LIBPATH=[os.path.dirname(libgcc)], LIBS=["gcc"])
    srcs = "+<riscv/*.c> +<riscv/*.S>"
else:
    env.Append(LINKFLAGS=linkflags + ["-nostdlib", "-T", os.path.join(targets, "xtensa", "xt.ld")],
               LIBS=["gcc"])
    srcs = "+<xtensa/*.c> +<xtensa/*.S>"
if no_libc:
    srcs += " +<l2m_shim.c>"
env.BuildSources(os.path.join("$BUILD_DIR", "l2m_targets"), targets, src_filter="-<*> " + srcs)

target_elf = env.BuildProgram()
target_size = env.Alias("size", target_elf, env.VerboseAction("$SIZEPRINTCMD", "Calculating size $SOURCE"))
qemu_cmd = board.get("build.l2m_qemu_cmd") + " -kernel $SOURCE < /dev/null"
AlwaysBuild(env.Alias("exec", target_elf, env.VerboseAction(qemu_cmd, "Running $SOURCE in QEMU")))
upload_cmd = env.GetProjectOption("upload_command", "") or qemu_cmd
AlwaysBuild(env.Alias("upload", target_elf, env.VerboseAction(upload_cmd, "Uploading (QEMU) $SOURCE")))
Default([target_elf, target_size])
