"""The demo end to end in a reduced mode (2 epochs, 20 QEMU samples): it trains, exports,
reports exact agreement, writes the HTML report, and refuses a folder of foreign files."""
from __future__ import annotations

import json

from larq2mcu import demo


def test_demo_reduced(tmp_path, capsys):
    out = tmp_path / "demo"
    rc = demo.main(["--epochs", "2", "--out", str(out), "--qemu-samples", "20"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "host C vs Keras: AGREE" in text
    assert "QEMU qemu_m4: OK" in text or "QEMU qemu_m4: SKIPPED" in text    # skipped without toolchain
    assert "larq2mcu export 'demo_bnn'" in text and "arena (RAM)" in text
    manifest = json.loads((out / "larq2mcu.json").read_text())
    assert manifest["name"] == "demo_bnn"
    assert "AGREE" in (out / "report.html").read_text(encoding="utf-8")
    # a second run replaces our own export without --force
    assert demo.main(["--epochs", "1", "--out", str(out), "--no-qemu"]) == 0
    assert "QEMU qemu_m4: SKIPPED" in capsys.readouterr().out


def test_demo_refuses_foreign_folder(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("keep me")
    assert demo.main(["--epochs", "1", "--out", str(out)]) == 2
    assert "did not write" in capsys.readouterr().out
    assert (out / "thesis.tex").read_text() == "keep me"
