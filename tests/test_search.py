"""A tiny real search on digits for nucleo_f446re (measured on its emulated twin qemu_m4):
an infeasible candidate is pruned before any training, a genome proposed twice is not trained
twice, and the front is exported, verified (host C == Keras) and written as a project."""
from __future__ import annotations

import pytest

from larq2mcu.search import Genome, Space, build_bnn
from larq2mcu.search.latency import EMULATED_TWIN, twin_of
from larq2mcu.search.space import Genome as G

SPACE = Space(conv_k=(1, 2), dense_k=(1, 8), depth=(1, 1), n_dense=(1, 1), float_edges=())
SMALL = G((32,), (32,))
BIG = G((64,), (256,))      # 3·3·64 · 256 binary weights = 18 KiB more than SMALL


def _needs_qemu_m4():
    from larq2mcu.board import profiles as boards
    from larq2mcu import board as targets
    err = targets.toolchain_available(boards.get_board("qemu_m4"), emulator=True)
    if err is not None:
        pytest.skip(str(err))


def test_space_round_trip_and_family(tfm):
    import optuna
    g = Genome((32, 64), (128,))
    study = optuna.create_study(directions=["maximize"])
    study.enqueue_trial(Space().params_of(g))
    assert Space().suggest(study.ask()) == g
    m = build_bnn(g, (28, 28, 1), 10)             # the hand-designed zoo.mnist_bnn, as a genome
    from larq2mcu.dev import zoo
    ref = zoo.mnist_bnn((28, 28, 1), 10)
    assert [type(a).__name__ for a in m.layers] == [type(b).__name__ for b in ref.layers]
    assert m.count_params() == ref.count_params()
    assert twin_of(__import__("larq2mcu.board.profiles").board.profiles.get_board("nucleo_f446re")).name == EMULATED_TWIN["nucleo_f446re"]


def test_tiny_study_prunes_before_training_and_exports_best(tmp_path, monkeypatch, tfm):
    _needs_qemu_m4()
    import optuna

    from larq2mcu import datasets, search
    from larq2mcu.search import objective
    trained = []
    real_train = objective.train

    def watched(build, x, y, recipe, label="", progress=False):
        trained.append(label)
        return real_train(build, x, y, recipe, label, progress)
    monkeypatch.setattr(objective, "train", watched)
    built = []

    def user_build(g, input_shape, num_classes):      # the API takes the user's builder
        built.append(g)
        return build_bnn(g, input_shape, num_classes)
    data = datasets.load_digits()
    kw = dict(build=user_build, space=SPACE, recipe=search.Recipe(epochs=1, batch_size=64), population=4,
              export_front=False, study_name="tiny")
    # 1) SMALL alone, no limits beyond the board: its exact flash
    study = search.open_study(search.default_storage(tmp_path), "tiny", population=4)
    study.enqueue_trial(SPACE.params_of(SMALL))
    search.search(data, "nucleo_f446re", 1, tmp_path, **kw)
    small = study.trials[0].user_attrs["cost"]
    assert small["measured_on"] == "qemu_m4" and small["flash"] > small["weights"] > 0
    assert small["ram"] > small["arena"] + small["stack"] and small["stack"] > 0 and small["instructions"] > 0
    # 2) resume with a flash limit SMALL meets and BIG cannot; then SMALL proposed again
    study.enqueue_trial(SPACE.params_of(BIG))
    study.enqueue_trial(SPACE.params_of(SMALL))
    limits = search.Limits(max_flash=small["flash"] + 8192)
    res = search.search(data, "nucleo_f446re", 3, tmp_path, **{**kw, "export_front": True},
                        limits=limits, data_spec="digits")
    t = res.study.trials
    S = optuna.trial.TrialState
    assert [x.state for x in t] == [S.COMPLETE, S.PRUNED, S.COMPLETE]
    assert t[1].user_attrs["stage"] == "pruned before training"
    assert t[1].user_attrs["over"]["flash"] > 0 and t[1].user_attrs["cost"]["flash"] > limits.max_flash
    assert len(trained) == 1 and SMALL.label() in trained[0]      # BIG never trained, SMALL once
    assert BIG in built and set(built) == {SMALL, BIG}
    assert t[2].user_attrs["duplicate_of"] == 0 and tuple(t[2].values) == tuple(t[0].values)
    # the front: SMALL, exported and verified exactly, and written as a PlatformIO project
    assert [r["trial"] for r in res.rows] == [0]
    row = res.rows[0]
    assert row["agree"] and row["test_acc_c"] == row["test_acc_keras"] > 0.2
    assert res.chosen["trial"] == 0
    assert (res.project / "platformio.ini").is_file() and (res.project / "lib" / "net").is_dir()
    html = res.html.read_text()
    assert html.count("<svg") == 2 and SMALL.label() in html


def test_cli_search_user_errors(tmp_path):
    from click.testing import CliRunner

    from larq2mcu.cli import main
    r = CliRunner().invoke(main, ["search", "--board", "nope", "--data", "digits", "-o", str(tmp_path)])
    assert r.exit_code == 2 and r.output.startswith("error: unknown board 'nope'")
    r = CliRunner().invoke(main, ["search", "--board", "qemu_m4", "--data", "digits", "--conv-k", "x"])
    assert r.exit_code == 2 and "error: --conv-k: expected LO-HI" in r.output
    r = CliRunner().invoke(main, ["search", "--board", "qemu_m4", "--data", "digits", "--reference", "nn"])
    assert r.exit_code == 2 and "not a zoo model; supported: mnist_bnn" in r.output
    r = CliRunner().invoke(main, ["search", "--board", "esp32dev", "--data", "digits", "--trials", "1",
                                  "-o", str(tmp_path)])
    assert r.exit_code == 2 and "has no emulated twin" in r.output and len(r.output.splitlines()) == 1
    r = CliRunner().invoke(main, ["search", "--board", "qemu_m4", "--data", "digits", "--trials", "1",
                                  "--max-latency-ms", "5", "-o", str(tmp_path)])
    assert r.exit_code == 2 and "needs the clock of board 'qemu_m4'" in r.output
