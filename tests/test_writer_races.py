"""The output writer under concurrency and SIGKILL (larq2mcu/outdir.py).

Writers run in forked processes; `outdir._HOOK` is called after every file-system change of a
write, so a test can pause a writer at any step (and race another against it) or SIGKILL it right
after step k, for every k. After each kill the destination must hold the old complete export or
the new complete one, every user file must be in the destination or in a recoverable folder, and
the next export must put every user file back in place and leave nothing behind.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import random
import signal

import pytest

from larq2mcu import outdir
from larq2mcu.errors import OutputDirError
from larq2mcu.outdir import MANIFEST, read_manifest, write_atomic

CTX = mp.get_context("fork")     # no re-import: a writer starts in milliseconds
EXPORTS = {
    "old": {"a.c": "old a", "lib/k.c": "old k", "lib/k.h": "old h"},
    "new": {"b.c": "new b", "lib/k.c": "new k", "lib/k.h": "new h", "lib/sub/x.h": "new x", "m.h": "new m"},
    "next": {"c.c": "next c", "lib/k.c": "next k"},
}
USER = {"notes.txt": "mine", "mydir/deep/f.txt": "deep", "lib/extra.c": "extra in one of our folders",
        "lib/sub2/y.txt": "y"}


def _child(conn, out, name, force, kill_at, pause_at, exchange, jitter):
    """One writer. kill_at: SIGKILL right after that step (1-based); pause_at: a step name at which
    to report and wait for the parent; jitter: random sleeps at every step (free race)."""
    import time
    n, paused = [0], [False]

    def hook(step):
        n[0] += 1
        if n[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        if step == pause_at and not paused[0]:
            paused[0] = True
            conn.send(("paused", step))
            conn.recv()
        if jitter:
            time.sleep(random.uniform(0, jitter))
    outdir._HOOK = hook
    if not exchange:
        outdir._exchange = lambda a, b: False
    if jitter:
        conn.recv()          # start together
    try:
        write_atomic(out, EXPORTS[name], {"name": name}, force=force)
        conn.send(("ok", n[0]))
    except OutputDirError as e:
        conn.send(("OutputDirError", str(e)))
    except BaseException as e:  # noqa: BLE001  (reported, and the test fails on it)
        conn.send(("other", repr(e)))


def _start(out, name, force=False, kill_at=0, pause_at=None, exchange=True, jitter=0.0):
    parent, child = CTX.Pipe()
    p = CTX.Process(target=_child, args=(child, str(out), name, force, kill_at, pause_at, exchange, jitter),
                    daemon=True)          # a test that fails never leaves a writer waiting
    p.start()
    return p, parent


def _recv(conn, timeout=20):
    assert conn.poll(timeout), "writer did not answer (hung or died)"
    return conn.recv()


def _run(out, name, **kw):
    """Run one writer to its end → its result, or None when it was killed."""
    p, conn = _start(out, name, **kw)
    p.join(30)
    assert p.exitcode is not None, "writer hung"
    if p.exitcode == -signal.SIGKILL:
        return None
    return _recv(conn, 1)


def _files(root):
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def _add_user_files(out, user=USER):
    for rel, text in user.items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_text(text)


def _state(out, user=None):
    """'old'/'new'/'next' when `out` holds that complete export (and nothing else of ours), else None."""
    m = read_manifest(out)
    if m is None:
        return None
    want = EXPORTS[m["name"]]
    assert sorted(m["files"]) == sorted(want)
    for f, text in want.items():
        assert (out / f).read_text() == text, f
    extra = _files(out) - set(want) - {MANIFEST} - set(USER if user is None else user)
    assert not extra, f"stray files of another export: {sorted(extra)[:5]}"
    return m["name"]


def _user_files_not_lost(tmp_path, out):
    """Each user file is in `out` or in one of its recoverable folders, with its content."""
    homes = [out] + [p for p in tmp_path.iterdir() if p.name.startswith(f".{out.name}.l2m-") and p.is_dir()]
    for rel, text in USER.items():
        where = [h for h in homes if (h / rel).is_file()]
        assert where, f"user file {rel} lost"
        assert (where[0] / rel).read_text() == text


def _clean(tmp_path, out):
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name], "leftover lock/staging folders"


def _count_steps(tmp_path, prepare, name, **kw):
    out = prepare(tmp_path / "count")
    res = _run(out, name, **kw)
    assert res[0] == "ok", res
    return res[1]


def _prepare_ours(root):
    root.mkdir()
    out = root / "o"
    write_atomic(out, EXPORTS["old"], {"name": "old"})
    _add_user_files(out)
    return out


def _kill_every_step(tmp_path, prepare, name="new", after=("old", "new"), **kw):
    n = _count_steps(tmp_path, prepare, name, **kw)
    assert n >= 8
    states = {}
    for k in range(1, n + 1):
        out = prepare(tmp_path / f"k{k}")
        assert _run(out, name, kill_at=k, **kw) is None
        states[k] = _state(out)
        assert states[k] in after, f"killed after step {k}: neither the old nor the new export"
        _user_files_not_lost(out.parent, out)
        write_atomic(out, EXPORTS["next"], {"name": "next"}, force=kw.get("force", False))
        assert _state(out) == "next"
        for rel, text in USER.items():
            assert (out / rel).read_text() == text, (k, rel)
        _clean(out.parent, out)
    return states


def test_kill_at_every_step_swap(tmp_path):
    _kill_every_step(tmp_path, _prepare_ours)


def test_kill_at_every_step_without_exchange(tmp_path):
    """The portable path (rename aside, rename in) recovers too. It has one window where the folder
    is missing: killed between the two renames, the old export waits aside until the next export."""
    states = _kill_every_step(tmp_path, _prepare_ours, after=(None, "old", "new"), exchange=False)
    aside = len(EXPORTS["new"]) + 3                # locked, wrote×n, staged, aside
    assert [k for k, st in states.items() if st is None] == [aside]


def test_kill_at_every_step_new_folder(tmp_path):
    def prepare(root):
        root.mkdir()
        return root / "o"
    global USER
    saved, USER = USER, {}
    try:
        _kill_every_step(tmp_path, prepare, after=(None, "new"))
    finally:
        USER = saved


def test_kill_at_every_step_forced_into_foreign_folder(tmp_path):
    def prepare(root):
        out = root / "o"
        out.mkdir(parents=True)
        _add_user_files(out)
        return out
    n = _count_steps(tmp_path, prepare, "new", force=True)
    for k in range(1, n + 1):
        out = prepare(tmp_path / f"k{k}")
        assert _run(out, "new", kill_at=k, force=True) is None
        for rel, text in USER.items():          # --force never moves a user file
            assert (out / rel).read_text() == text
        write_atomic(out, EXPORTS["next"], {"name": "next"}, force=True)
        assert _state(out) == "next" and all((out / r).read_text() == t for r, t in USER.items())
        _clean(out.parent, out)


def test_kill_during_recovery_of_a_killed_writer(tmp_path):
    """Writer 1 dies right after the swap (user files in its folder); writer 2 dies at every step
    of its own run, recovery included; writer 3 still puts every user file back."""
    swapped_at = len(EXPORTS["new"]) + 3          # locked, wrote×n, staged, swapped
    n2 = None
    k = 1
    while n2 is None or k <= n2:
        out = _prepare_ours(tmp_path / (f"k{k}" if n2 else "count"))
        assert _run(out, "new", kill_at=swapped_at) is None
        assert _state(out) == "new" and not (out / "notes.txt").exists()
        if n2 is None:
            res = _run(out, "next")
            n2 = res[1]
            assert res[0] == "ok" and n2 > swapped_at
            assert _state(out) == "next" and (out / "notes.txt").read_text() == "mine"
            continue
        assert _run(out, "next", kill_at=k) is None
        _user_files_not_lost(out.parent, out)
        write_atomic(out, EXPORTS["old"], {"name": "old"})
        assert _state(out) == "old" and all((out / r).read_text() == t for r, t in USER.items())
        _clean(out.parent, out)
        k += 1


def test_kill_with_3000_user_files(tmp_path):
    """Thousands of user files at the top of the folder: a few kills during the moves."""
    many = {f"u{i:04d}.txt": str(i) for i in range(3000)}

    def prepare(root):
        root.mkdir()
        out = root / "o"
        write_atomic(out, EXPORTS["old"], {"name": "old"})
        for f, t in many.items():
            (out / f).write_text(t)
        return out
    swapped = len(EXPORTS["new"]) + 3
    for k in (3, swapped, swapped + 1, swapped + 1500, swapped + 3000):
        out = prepare(tmp_path / f"k{k}")
        assert _run(out, "new", kill_at=k) is None
        assert _state(out, many) in ("old", "new")
        write_atomic(out, EXPORTS["next"], {"name": "next"})
        assert _files(out) == set(many) | set(EXPORTS["next"]) | {MANIFEST}, k
        assert all((out / f).read_text() == t for f, t in many.items())
        _clean(out.parent, out)


@pytest.mark.parametrize("step", ["locked", "wrote", "staged", "swapped", "moved"])
def test_second_writer_refused_while_first_writes(tmp_path, step):
    """Real overlap: writer A is paused at `step`; writer B gets 'another export is writing' and
    changes nothing; A then completes."""
    out = _prepare_ours(tmp_path / "w")
    p, conn = _start(out, "new", pause_at=step)
    assert _recv(conn) == ("paused", step)
    before = sorted(p_.name for p_ in out.parent.rglob("*"))
    with pytest.raises(OutputDirError, match=rf"another export \(pid {p.pid}\) is writing to {out}"):
        write_atomic(out, EXPORTS["next"], {"name": "next"})
    assert sorted(p_.name for p_ in out.parent.rglob("*")) == before
    conn.send("go")
    assert _recv(conn)[0] == "ok"
    p.join(10)
    assert _state(out) == "new" and all((out / r).read_text() == t for r, t in USER.items())
    _clean(out.parent, out)


def test_free_race_of_three_writers(tmp_path):
    """Three writers started together, random delays at every step, 12 rounds: each one succeeds
    or is refused with OutputDirError; the folder ends as one winner's complete export."""
    out = _prepare_ours(tmp_path / "w")
    names = ["old", "new", "next"]
    for _ in range(12):
        procs = [_start(out, nm, jitter=0.003) for nm in names]
        for _, conn in procs:
            conn.send("start")
        results = {}
        for nm, (p, conn) in zip(names, procs):
            results[nm] = _recv(conn)
            p.join(10)
        assert all(r[0] == "ok" or (r[0] == "OutputDirError" and "another export" in r[1])
                   for r in results.values()), results
        ok = [nm for nm, r in results.items() if r[0] == "ok"]
        assert ok and _state(out) in ok
        assert all((out / r).read_text() == t for r, t in USER.items())
        _clean(out.parent, out)


def test_live_staging_folder_of_another_process_is_never_deleted(tmp_path):
    """A folder named like ours whose owner is alive (holds its flock) is left alone."""
    import fcntl
    out = _prepare_ours(tmp_path / "w")
    live = out.parent / ".o.l2m-new-1-deadbeef"
    live.mkdir()
    (live / "work.c").write_text("in progress")
    fd = os.open(live, os.O_RDONLY | os.O_DIRECTORY)
    parent, child = CTX.Pipe()

    def holder(c):
        fcntl.flock(fd, fcntl.LOCK_EX)
        c.send("held")
        c.recv()
    p = CTX.Process(target=holder, args=(child,), daemon=True)
    p.start()
    os.close(fd)
    assert _recv(parent) == "held"
    write_atomic(out, EXPORTS["new"], {"name": "new"})
    assert (live / "work.c").read_text() == "in progress" and _state(out) == "new"
    parent.send("done")
    p.join(10)
    write_atomic(out, EXPORTS["next"], {"name": "next"})      # now abandoned: recovered
    assert not live.exists() and _state(out) == "next"
    _clean(out.parent, out)
