"""`--import MODULE` / export(imports=, custom_objects=): a model file whose classes live in user
code loads once the user names that code, and only then; safe_load still refuses what no named
module defines, and Lambda layers always."""
from __future__ import annotations

import textwrap

import numpy as np
import pytest
from click.testing import CliRunner

from larq2mcu.errors import ModelLoadError, UnsupportedLayerError

MODULE = textwrap.dedent('''
    """A user's model code: a Model subclass (as larq-zoo's BinaryDenseNet), a registered
    constraint and one offered through a module-level dict."""
    import numpy as np
    from larq2mcu._tf import tf_modules
    tf, keras, lq = tf_modules()

    class UserNet(keras.Model):
        pass

    @keras.utils.register_keras_serializable(package="usernet")
    class RegisteredClip(keras.constraints.Constraint):
        def __call__(self, w):
            return tf.clip_by_value(w, -1.0, 1.0)

    class DictClip(keras.constraints.Constraint):
        def __call__(self, w):
            return tf.clip_by_value(w, -1.0, 1.0)

    custom_objects = {"DictClip": DictClip}

    def build():
        kw = dict(input_quantizer="ste_sign", kernel_quantizer="ste_sign", use_bias=False)
        inp = keras.Input((4, 4, 1))
        x = lq.layers.QuantConv2D(8, 3, kernel_quantizer="ste_sign", kernel_constraint=RegisteredClip(),
                                  use_bias=False)(inp)
        x = keras.layers.BatchNormalization()(x)
        x = keras.layers.Flatten()(x)
        x = lq.layers.QuantDense(3, kernel_constraint=DictClip(), **kw)(x)
        return UserNet(inp, x)
''')


@pytest.fixture(scope="module")
def user_model(tmp_path_factory):
    """(module file, saved .h5, the Keras model) — the module is imported here as a user script would."""
    import importlib.util
    d = tmp_path_factory.mktemp("usercode")
    src = d / "l2m_usernet.py"
    src.write_text(MODULE)
    spec = importlib.util.spec_from_file_location("l2m_usernet", src)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    m = mod.build()
    from larq2mcu.dev import zoo
    zoo.randomize_bn(m)
    m.save(d / "net.h5")
    return src, d / "net.h5", m


def test_refused_without_the_module(user_model):
    from larq2mcu.frontend import load_model
    _, h5, _ = user_model
    with pytest.raises(ModelLoadError, match="class 'UserNet'.*--import MODULE"):
        load_model(h5)


def test_loads_and_exports_with_the_module(user_model, tmp_path):
    import larq2mcu
    src, h5, m = user_model
    exp = larq2mcu.export(h5, tmp_path / "o", name="u", imports=[str(src)])
    assert type(exp.model).__name__ == "UserNet"
    x = np.random.default_rng(0).uniform(-1, 1, (8, 4, 4, 1)).astype(np.float32)
    np.testing.assert_array_equal(exp.build_host().predict(x), m.predict(x, verbose=0))


def test_each_way_of_offering_a_class_is_needed(user_model):
    """The Model subclass alone is not enough: the dict entry (DictClip) and the registered
    constraint must come from the module too — passing only UserNet as custom_objects is refused."""
    from larq2mcu.frontend import load_model
    from larq2mcu.frontend.user_code import import_user_modules
    src, h5, _ = user_model
    u = import_user_modules([str(src)])
    assert {"UserNet", "DictClip", "usernet>RegisteredClip"} <= set(u.objects)
    with pytest.raises(UnsupportedLayerError, match="DictClip|RegisteredClip"):
        load_model(h5, custom_objects={"UserNet": u.objects["UserNet"]})


def test_lambda_stays_refused_with_an_import(user_model, tmp_path, tfm):
    from larq2mcu.frontend import load_model
    _, keras, _ = tfm
    src, _, _ = user_model
    m = keras.Sequential([keras.Input((3,)), keras.layers.Lambda(lambda v: v * 2.0)])
    m.save(tmp_path / "lam.h5")
    with pytest.raises(UnsupportedLayerError, match="Lambda"):
        load_model(tmp_path / "lam.h5", imports=[str(src)])


def test_cli_import(user_model, tmp_path):
    from larq2mcu.cli import main
    src, h5, _ = user_model
    r = CliRunner().invoke(main, ["export", str(h5), "-o", str(tmp_path / "a")])
    assert r.exit_code == 2 and "--import MODULE" in r.output, r.output
    r = CliRunner().invoke(main, ["export", str(h5), "-o", str(tmp_path / "b"), "--import", str(src)])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "b" / "model.c").exists()
    r = CliRunner().invoke(main, ["export", str(h5), "-o", str(tmp_path / "c"), "--import", "l2m_no_such_module_x"])
    assert r.exit_code == 2 and "cannot import it: ModuleNotFoundError" in r.output, r.output
