"""The study's record and budget across processes: two workers sharing one SQLite study, the
same on a real PostgreSQL server started here, and kill -9 + resume.

The workers run the search's own `run_worker` on its real storage (heartbeats, retry of stale
trials, the exact budget) with a stand-in objective that sleeps instead of training: what is
tested here is the bookkeeping, which does not depend on what a trial computes. Every trial
logs `start <number> <genome>` and `done <number> <genome>` to a shared file.

Run as a script, this file is the worker: python test_search_storage.py URL N LOG SLEEP READY
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STUDY = "storage-test"


def _worker(url: str, n: int, log: str, sleep: float, ready: str) -> None:
    from larq2mcu.search.space import Space
    from larq2mcu.search.study import open_study, run_worker
    space = Space(conv_k=(1, 4), dense_k=(1, 4), depth=(1, 2), n_dense=(0, 1))

    def objective(trial):
        g = space.suggest(trial)
        with open(log, "a") as f:
            f.write(f"start {trial.number} {g.label()} {os.getpid()}\n")
        time.sleep(sleep)
        with open(log, "a") as f:
            f.write(f"done {trial.number} {g.label()} {os.getpid()}\n")
        w = sum(g.convs) + sum(g.dense)
        return 1.0 - 1.0 / w, float(w), float(2 * w)

    study = open_study(url, STUDY, seed=os.getpid(), population=4, heartbeat_interval=1, grace_period=2)
    if ready:      # barrier: start together, so both workers really share the study
        Path(ready, str(os.getpid())).touch()
        t0 = time.time()
        while len(list(Path(ready).iterdir())) < 2 and time.time() - t0 < 30:
            time.sleep(0.05)
    run_worker(study, objective, n, poll=0.5)


def _spawn(url, n, log, sleep, ready=""):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, __file__, url, str(n), str(log), str(sleep), str(ready)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _events(log: Path):
    rows = [ln.split() for ln in log.read_text().splitlines()] if log.exists() else []
    return [(k, int(num), g, pid) for k, num, g, pid in rows]


def _check_exact(url: str, n: int, log: Path) -> list:
    """N COMPLETE trials, each run to its end exactly once; any other trial is a surplus FAIL
    that did nothing, or a killed one (returned)."""
    import optuna
    S = optuna.trial.TrialState
    study = optuna.load_study(study_name=STUDY, storage=url)
    trials = study.get_trials()
    complete = [t for t in trials if t.state == S.COMPLETE]
    assert len(complete) == n, Counter(t.state.name for t in trials)
    ev = _events(log)
    done = Counter(num for k, num, _, _ in ev if k == "done")
    assert sorted(done) == sorted(t.number for t in complete) and max(done.values()) == 1
    started = {num for k, num, _, _ in ev if k == "start"}
    killed = [t for t in trials if t.state == S.FAIL and not t.user_attrs.get("surplus")]
    assert started == set(done) | {t.number for t in killed}
    assert all(t.state in (S.COMPLETE, S.FAIL) for t in trials)
    return killed


def _two_workers(url: str, tmp_path: Path, n: int = 6) -> None:
    log, ready = tmp_path / "log", tmp_path / "ready"
    ready.mkdir()
    ws = [_spawn(url, n, log, 0.2, ready) for _ in range(2)]
    for w in ws:
        out, _ = w.communicate(timeout=120)
        assert w.returncode == 0, out
    assert _check_exact(url, n, log) == []
    assert len({pid for _, _, _, pid in _events(log)}) == 2      # both workers ran trials


def test_two_workers_share_sqlite(tmp_path):
    pytest.importorskip("optuna")
    _two_workers(f"sqlite:///{tmp_path / 'study.db'}", tmp_path)


def test_kill_and_resume_keeps_completed_trials(tmp_path):
    pytest.importorskip("optuna")
    import optuna
    S = optuna.trial.TrialState
    url, log, n = f"sqlite:///{tmp_path / 'study.db'}", tmp_path / "log", 5
    w = _spawn(url, n, log, 0.8)

    def running(ev):
        return {num for k, num, *_ in ev if k == "start"} - {num for k, num, *_ in ev if k == "done"}
    deadline = time.time() + 60
    while time.time() < deadline:   # kill -9 in the middle of a trial, with 2 trials done
        ev = _events(log)
        if sum(k == "done" for k, *_ in ev) >= 2 and running(ev):
            break
        time.sleep(0.05)
    w.send_signal(signal.SIGKILL)
    w.wait()
    dead = running(_events(log))       # the trial the kill interrupted (it never wrote "done")
    before = {t.number: t.params for t in optuna.load_study(study_name=STUDY, storage=url).trials
              if t.state == S.COMPLETE}
    assert len(before) >= 2 and len(dead) == 1
    r = _spawn(url, n, log, 0.1)
    out, _ = r.communicate(timeout=120)
    assert r.returncode == 0, out
    killed = _check_exact(url, n, log)
    assert {t.number for t in killed} == dead
    study = optuna.load_study(study_name=STUDY, storage=url)
    after = {t.number: t.params for t in study.trials if t.state == S.COMPLETE}
    assert all(after[k] == v for k, v in before.items())          # completed trials kept as they were
    retry = [t for t in study.trials if t.system_attrs.get("failed_trial") in dead]
    assert len(retry) == 1 and retry[0].params == killed[0].params    # the killed one re-run once
    assert retry[0].state == S.COMPLETE


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres(tmp_path):
    """A throw-away PostgreSQL server (Debian's postgresql package) on 127.0.0.1:<free port>,
    run as the `postgres` user when we are root; stopped and removed afterwards."""
    pytest.importorskip("psycopg", reason="needs psycopg 3 (pip install 'larq2mcu[search]')")
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not bins:
        pytest.skip("needs Debian's postgresql package (initdb, pg_ctl)")
    bindir = bins[-1].parent
    as_user = []
    # pytest's tmp folders are private to us (0700); the server's folder must be the server user's
    data = Path(tempfile.mkdtemp(prefix="l2m-pg-"))
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: cannot start postgres as another user")
        import pwd
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the server")
        os.chown(data, pw.pw_uid, pw.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    for cmd in ([str(bindir / "initdb"), "-D", str(data / "db"), "-A", "trust", "-U", "postgres"],
                [str(bindir / "pg_ctl"), "-D", str(data / "db"), "-w", "-l", str(data / "log"),
                 "-o", f"-h 127.0.0.1 -p {port} -k {data}", "start"]):
        proc = subprocess.run([*as_user, *cmd], check=False, capture_output=True, text=True)
        assert proc.returncode == 0, f"{cmd[0]} failed: {proc.stdout}{proc.stderr}"
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_user, str(bindir / "pg_ctl"), "-D", str(data / "db"), "-m", "immediate", "stop"],
                       check=False, capture_output=True)
        shutil.rmtree(data, ignore_errors=True)


def test_schema_race_is_retried(monkeypatch):
    """CI saw it: two workers on a fresh PostgreSQL both CREATE TYPE studydirection and one gets
    DuplicateObject (a ProgrammingError); storage() must retry, not die. Other programming errors
    (a bad URL's SQL, a permission) are raised at once."""
    pytest.importorskip("optuna")
    from sqlalchemy.exc import ProgrammingError

    import optuna.storages
    from larq2mcu.search import study as st
    calls = []

    class Flaky:
        def __init__(self, *a, **k):
            calls.append(1)
            if len(calls) == 1:
                raise ProgrammingError("CREATE TYPE", {}, Exception('type "studydirection" already exists'))
    monkeypatch.setattr(optuna.storages, "RDBStorage", Flaky)
    monkeypatch.setattr(st.time, "sleep", lambda s: None)
    assert isinstance(st.storage("sqlite:///:memory:"), Flaky) and len(calls) == 2

    class Denied:
        def __init__(self, *a, **k):
            calls.append(1)
            raise ProgrammingError("CREATE TABLE", {}, Exception("permission denied for schema public"))
    monkeypatch.setattr(optuna.storages, "RDBStorage", Denied)
    calls.clear()
    with pytest.raises(ProgrammingError):
        st.storage("sqlite:///:memory:")
    assert len(calls) == 1


def test_four_workers_create_one_postgresql_schema(postgres):
    """Four processes open the same new study on an empty server at the same instant."""
    pytest.importorskip("optuna")
    code = ("import sys,time; from larq2mcu.search.study import open_study;"
            "t=float(sys.argv[2]); time.sleep(max(0.0, t-time.time())); open_study(sys.argv[1], 'race')")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    start = str(time.time() + 4.0)
    ps = [subprocess.Popen([sys.executable, "-c", code, postgres, start], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(4)]
    for p in ps:
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0, out


def test_two_workers_share_postgresql(postgres, tmp_path):
    pytest.importorskip("optuna")
    _two_workers(postgres, tmp_path)


if __name__ == "__main__":
    _worker(sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), sys.argv[5])
