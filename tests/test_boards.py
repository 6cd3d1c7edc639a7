"""boards.yaml validation: every error names the board and the field; unknown boards get
suggestions; fits() reports need vs have."""
from __future__ import annotations

import copy

import pytest
import yaml

from larq2mcu.board.profiles import Board, fits, get_board, load_boards, parse_boards, require_fit
from larq2mcu.errors import BoardError
from larq2mcu.paths import boards_yaml

REQUIRED_REAL = ["nucleo_f446re", "nucleo_h743zi", "nucleo_l552ze_q", "pico", "nano33ble", "esp32dev",
                 "esp32-s3-devkitc-1", "esp32-c3-devkitm-1"]
REQUIRED_QEMU = ["qemu_m0", "qemu_m3", "qemu_m4", "qemu_m7", "qemu_m33", "qemu_m55", "qemu_rv32",
                 "qemu_rv32_zbb", "qemu_lx106"]


@pytest.fixture(scope="module")
def doc():
    return yaml.safe_load(boards_yaml().read_text())


def _broken(doc, board, mutate):
    d = copy.deepcopy(doc)
    mutate(d["boards"][board])
    return d


from larq2mcu.codegen.lower import runtime_kernels  # noqa: E402


def test_all_boards_load():
    boards = load_boards()
    assert set(REQUIRED_REAL + REQUIRED_QEMU) <= set(boards)
    for name, b in boards.items():
        assert isinstance(b, Board) and b.name == name
        assert b.emulated == name.startswith("qemu_")
        # a variant the runtime really declares (codegen falls back to _ref silently otherwise)
        assert f"l2m_conv2d_b32_b32_{b.kernel_variant}" in runtime_kernels()
        fo, fs, ro, rs = b.link_map()
        assert fs > 0 and rs > 0
    assert all(boards[n].print == "semihosting" for n in REQUIRED_QEMU)
    # ESP32 boards cannot be compiled with their own toolchain here: a stand-in is declared
    for n in ("esp32dev", "esp32-s3-devkitc-1"):
        assert boards[n].host_check is not None and boards[n].host_check.toolchain == "xtensa-lx106-elf"
    assert boards["esp32-c3-devkitm-1"].host_check.toolchain == "riscv64-unknown-elf"


def test_board_is_frozen():
    b = get_board("qemu_m4")
    with pytest.raises(Exception):
        b.flash = 1  # type: ignore[misc]


@pytest.mark.parametrize("mutate,field", [
    (lambda b: b.update(falsh=b.pop("flash")), "falsh"),                 # typo
    (lambda b: b.pop("cpu"), "cpu"),                                      # missing
    (lambda b: b.update(ram="lots"), "ram"),                              # wrong type
    (lambda b: b.update(flash=True), "flash"),                            # bool is not a size
    (lambda b: b.update(cflags="-O2"), "cflags"),                         # not a list
    (lambda b: b.update(cflags=["-mthumb", 3]), "cflags"),               # list of non-strings
    (lambda b: b.update(print="swo"), "print"),                           # bad enum
    (lambda b: b.update(cycle_counter="systick"), "cycle_counter"),
    (lambda b: b.update(arch="mips"), "arch"),
    (lambda b: b.update(flash=0), "flash"),
    (lambda b: b.update(kernel_variant="Harley Seal"), "kernel_variant"),
    (lambda b: b["qemu"].update(machin=b["qemu"].pop("machine")), "qemu.machin"),
    (lambda b: b["qemu"].update(binary="qemu-arm"), "qemu.binary"),
    (lambda b: b["qemu"].pop("ram_size"), "qemu.ram_size"),
])
def test_validation_errors_name_board_and_field(doc, mutate, field):
    with pytest.raises(BoardError) as ei:
        parse_boards(_broken(doc, "qemu_m4", mutate))
    msg = str(ei.value)
    assert "'qemu_m4'" in msg and f"'{field}'" in msg


def test_typo_suggests_the_field(doc):
    with pytest.raises(BoardError, match=r"did you mean 'cycle_counter'"):
        parse_boards(_broken(doc, "pico", lambda b: b.update(cycle_countr=b.pop("cycle_counter"))))


def test_real_board_needs_memory_map(doc):
    with pytest.raises(BoardError, match=r"'nano33ble'.*'memory'"):
        parse_boards(_broken(doc, "nano33ble", lambda b: b.pop("memory")))


def test_host_check_fields_validated(doc):
    with pytest.raises(BoardError, match=r"'esp32dev'.*'host_check.note'"):
        parse_boards(_broken(doc, "esp32dev", lambda b: b["host_check"].pop("note")))


def test_top_level_errors(tmp_path):
    with pytest.raises(BoardError, match="boards:"):
        parse_boards({"version": 1})
    with pytest.raises(BoardError, match="version"):
        parse_boards({"version": 2, "boards": {}})
    bad = tmp_path / "b.yaml"
    bad.write_text("boards: [unclosed")
    with pytest.raises(BoardError, match="invalid YAML"):
        load_boards(bad)
    with pytest.raises(BoardError, match="cannot read"):
        load_boards(tmp_path / "missing.yaml")


def test_user_file(tmp_path, doc):
    d = {"version": 1, "boards": {"my_m4": copy.deepcopy(doc["boards"]["qemu_m4"])}}
    p = tmp_path / "boards.yaml"
    p.write_text(yaml.safe_dump(d))
    boards = load_boards(p)
    assert list(boards) == ["my_m4"] and boards["my_m4"].qemu.machine == "mps2-an386"


def test_unknown_board_lists_close_names():
    with pytest.raises(BoardError) as ei:
        get_board("nucleo_f446")
    msg = str(ei.value)
    assert "unknown board 'nucleo_f446'" in msg and "did you mean 'nucleo_f446re'" in msg
    assert "known boards:" in msg and "qemu_lx106" in msg


def test_fits_need_vs_have():
    b = get_board("qemu_m0")   # 256 KiB flash, 16 KiB RAM
    ok = fits(b, 1000, 2000)
    assert ok and "fits board 'qemu_m0'" in ok.message
    no = fits(b, 300_000, 20_000)
    assert not no
    assert "flash: need 300000 B" in no.message and "have 262144 B" in no.message
    assert "RAM: need 20000 B" in no.message and "have 16384 B" in no.message
    assert "flash" not in fits(b, 10, 20_000).message.split(":", 1)[1]
    with pytest.raises(BoardError, match="does not fit board 'qemu_m0'"):
        require_fit(b, 10, 1 << 20)
