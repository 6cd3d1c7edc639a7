"""HTML report: written, self-contained, carries the key numbers; report_dir rebuilds the text
report from an export folder; headless Chromium renders it (skipped when Chromium is absent)."""
from __future__ import annotations

import json
import shutil
import struct
import subprocess
import zlib

import numpy as np
import pytest

import larq2mcu
from larq2mcu import datasets, html_report, latency_report, report
from larq2mcu.dev import zoo
from larq2mcu.verify import compare


def _measure_latency(exp, workdir):
    """The exact per-layer instructions on qemu_m4 stored beside the export (latency.json), or
    None where the cross compiler, QEMU or pyelftools is missing."""
    import importlib.util

    from larq2mcu import board as targets
    from larq2mcu.board import latency
    from larq2mcu.board.profiles import get_board
    b = get_board("qemu_m4")
    if targets.toolchain_available(b, emulator=True) is not None or importlib.util.find_spec("elftools") is None:
        return None
    d = latency.measure(exp, b, workdir)
    latency.store(exp.out_dir, d)
    return d


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tfm):
    tf, keras, lq = tfm
    keras.utils.set_random_seed(0)
    ds = datasets.load_digits()
    _, xte = ds.inputs("sym")
    model = zoo.randomize_bn(zoo.mnist_bnn(ds.input_shape, 10), seed=3)   # no exact output ties
    out = tmp_path_factory.mktemp("html") / "exp"
    exp = larq2mcu.export(model, out, name="html_bnn", cpu="cortex-m4")
    lat = _measure_latency(exp, tmp_path_factory.mktemp("lat"))
    ag = compare(exp, exp.build_host(), xte[:64])
    page = html_report.write_html(exp, out / "report.html", accuracy=0.98765, agreement=ag, board="qemu_m4")
    return exp, ag, page, lat


def test_html_contents(exported):
    exp, ag, page, lat = exported
    text = page.read_text(encoding="utf-8")
    data = report.collect(exp)
    tot = report.totals(data)
    assert text.startswith("<!DOCTYPE html>")
    for needle in ("html_bnn", exp.model_hash, f"{exp.plan.arena_size:,} B", f"{tot['weight_bytes']:,} B",
                   f"{tot['binary_macs']:,}", "98.77 %", "AGREE" if ag.ok else "DISAGREE", "qemu_m4",
                   "4,194,304", "Arena plan", "Flash by layer"):
        assert needle in text, needle
    for r in exp.rows():                    # every layer appears in the table
        assert f"<td>{r.layer}</td>" in text
    if lat is not None:       # the latency section: per-layer instructions, linked image, stack
        assert 'id="latency"' in text and f"{lat['total']:,} instructions per inference" in text
        for r in lat["layers"]:
            assert f"<td>{r['layer']}</td><td>{r['op']}</td><td class=\"n\">{r['instructions']:,}</td>" in text
        assert f"{lat['image_flash']:,} / 4,194,304 B" in text and f"{lat['ram_total']:,} / 4,194,304 B" in text
        assert f"stack high-water mark {lat['stack_hwm']:,} B" in text
    # one rectangle per arena buffer, each with its tooltip
    assert text.count("live op ") == len(exp.plan.offsets)
    # self-contained: no scripts, no external resources
    low = text.lower()
    assert "<script" not in low and "src=" not in low and "href=" not in low and "@import" not in low


def test_timeline_geometry(exported):
    """Rectangles lie inside the plot and do not overlap where lifetimes overlap (planner check)."""
    exp, _, _, _ = exported
    data = report.collect(exp)
    mem = html_report.memory_chart(data)
    for r in mem["rects"]:
        assert mem["left"] - 1e-6 <= r["x"] and r["x"] + r["w"] <= mem["left"] + mem["pw"] + 1e-6
        assert mem["top"] - 1e-6 <= r["y"] and r["y"] + r["h"] <= mem["top"] + mem["ph"] + 1.5
    bufs = data["buffers"]
    for i, a in enumerate(bufs):
        assert a["offset"] + a["size"] <= data["arena_size"]
        for b in bufs[i + 1:]:
            if not (a["last"] < b["first"] or b["last"] < a["first"]):
                assert a["offset"] + a["size"] <= b["offset"] or b["offset"] + b["size"] <= a["offset"]


def test_report_dir(exported):
    exp, ag, _, _ = exported
    text = report.report_dir(exp.out_dir)
    assert "html_bnn" in text and f"{exp.plan.arena_size:,} B" in text and "█" in text
    last = exp.rows()[-1].layer
    assert last in text and "98.77 %" in text
    side = exp.out_dir / report.SIDECAR
    saved = side.read_text()
    try:   # a stale sidecar (other model hash) is ignored; the C files still give the table
        side.write_text(json.dumps(dict(json.loads(saved), model_hash="0" * 16)))
        text = report.report_dir(exp.out_dir)
        assert last in text and "98.77" not in text
    finally:
        side.write_text(saved)


def test_report_dir_from_manifest_entry(exported, tmp_path):
    """Once export() stores collect() under the manifest's "report" key, that is used."""
    exp, _, _, _ = exported
    out = tmp_path / "copy"
    shutil.copytree(exp.out_dir, out)
    (out / report.SIDECAR).unlink()
    m = json.loads((out / "larq2mcu.json").read_text())
    m["report"] = {k: v for k, v in report.collect(exp).items() if k not in ("name", "model_hash")}
    (out / "larq2mcu.json").write_text(json.dumps(m))
    text = report.report_dir(out)
    assert "arena bytes live per op step" in text and "not recorded" not in text


def _png_rows(path):
    """(width, height, distinct filtered scanlines) of a non-interlaced 8-bit PNG. A one-colour
    image has at most one distinct scanline per PNG filter type (≤ 6 with the first row)."""
    raw = path.read_bytes()
    assert raw[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, channels = 8, b"", 1
    w = h = None
    while pos < len(raw):
        n, kind = struct.unpack(">I4s", raw[pos:pos + 8])
        body = raw[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8
            channels = {0: 1, 2: 3, 4: 2, 6: 4}[ctype]
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    data = zlib.decompress(idat)
    stride = 1 + w * channels
    assert len(data) == stride * h
    return w, h, len({data[i * stride:(i + 1) * stride] for i in range(h)})


def _png_pixels(path):
    """(h, w, channels) uint8 pixels of a non-interlaced 8-bit PNG (the five PNG filters undone)."""
    raw = path.read_bytes()
    pos, idat = 8, b""
    while pos < len(raw):
        n, kind = struct.unpack(">I4s", raw[pos:pos + 8])
        body = raw[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0
            c = {0: 1, 2: 3, 4: 2, 6: 4}[ctype]
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    data = zlib.decompress(idat)
    stride = w * c
    out = np.zeros((h, stride), np.uint8)
    prev = np.zeros(stride, np.int32)
    for y in range(h):
        f = data[y * (stride + 1)]
        line = np.frombuffer(data, np.uint8, stride, y * (stride + 1) + 1).astype(np.int32)
        if f == 0:
            cur = line
        elif f == 1:                      # Sub: running sum per channel, mod 256
            cur = np.cumsum(line.reshape(w, c), axis=0).reshape(-1) & 255
        elif f == 2:                      # Up
            cur = (line + prev) & 255
        else:                             # Average, Paeth: sequential along the row
            cur, up = line.tolist(), prev.tolist()
            for i in range(stride):
                a = cur[i - c] if i >= c else 0
                b = up[i]
                if f == 3:
                    cur[i] = (cur[i] + ((a + b) >> 1)) & 255
                else:
                    d = up[i - c] if i >= c else 0
                    p = a + b - d
                    pa, pb, pd = abs(p - a), abs(p - b), abs(p - d)
                    cur[i] = (cur[i] + (a if pa <= pb and pa <= pd else b if pb <= pd else d)) & 255
            cur = np.array(cur, np.int32)
        out[y] = cur
        prev = cur
    return out.reshape(h, w, c)


def test_chromium_screenshot(exported, tmp_path):
    exe = next((shutil.which(c) for c in ("chromium", "chromium-browser", "google-chrome") if shutil.which(c)), None)
    if exe is None:
        pytest.skip("Chromium not installed (apt-get install -y chromium); screenshot check skipped")
    _, _, page, lat = exported
    png = tmp_path / "shot.png"
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
           f"--screenshot={png}", "--window-size=1200,1600", page.resolve().as_uri()]
    subprocess.run(cmd, capture_output=True, timeout=60, check=False)
    assert png.is_file() and png.stat().st_size > 1000
    w, h, distinct = _png_rows(png)
    assert (w, h) == (1200, 1600)
    assert distinct > 50, "screenshot looks like a single colour"
    if lat is None:
        pytest.skip("no latency measured (cross compiler, QEMU or pyelftools missing): latency pixels unchecked")
    # the latency bars are drawn: as many pixels of their colour as the bars cover (each bar
    # h × its width, the antialiased fractional column aside), and none of it elsewhere
    px = _png_pixels(png)[..., :3]
    colour = np.array([int(latency_report.BAR_FILL[i:i + 2], 16) for i in (1, 3, 5)], np.uint8)
    mask = np.all(px == colour, axis=2)
    bars = [b for blk in latency_report.html_context({"emulated": {"qemu_m4": lat}}) for b in blk["chart"]["bars"] if b["w"] >= 1]
    want = sum(int(b["w"]) * b["h"] for b in bars)
    assert abs(int(mask.sum()) - want) <= sum(b["h"] for b in bars), (int(mask.sum()), want)
    ys = np.nonzero(mask.any(axis=1))[0]
    assert len(ys) == sum(b["h"] for b in bars)          # one band of rows per layer, all on screen
    widths = sorted(int(mask[y].sum()) for y in ys[::bars[0]["h"]])   # one row of each band
    assert all(abs(a - b) <= 1 for a, b in zip(widths, sorted(int(b["w"]) for b in bars))), widths
