"""Keras/Larq model → IR graph.

`to_ir` walks the model's layer graph in topological order (tf-keras `_nodes_by_depth`), calls
the handler registered for each layer's class, and records for each layer output which Keras
layer it equals (`ir.Origin`), so verification can compare intermediate tensors.
"""
from __future__ import annotations

import os
from pathlib import Path

from .. import ir
from ..errors import ModelLoadError, ModelStructureError, UnsupportedLayerError, UnsupportedOutputError
from . import activations, dot, layers  # noqa: F401  (registers the handlers)
from . import affine  # noqa: F401,E402  (Rescaling, Normalization)
from . import depthwise  # noqa: F401,E402  (grouped / depthwise / separable convs)
from . import elementwise, tfop  # noqa: F401  (glue layers, TF operators)
from . import lambda_graph  # noqa: F401,E402  (Lambda layers, traced)
from .registry import Builder, handler_for


def load_model(model, imports=(), custom_objects=None, trust_lambda: bool = False):
    """Accept a tf.keras Model or a path to a .keras/.h5 file; return the Model. `imports`
    (module names or .py paths) are imported first and, with `custom_objects`, make the classes
    they define loadable (frontend/user_code.py). A file with a `Lambda` layer is refused unless
    `trust_lambda` (loading runs the file's Python code; `.keras` is then read with safe_mode off)."""
    from .._tf import tf_modules
    from .user_code import import_user_modules
    tf, keras, _ = tf_modules()
    user = import_user_modules(imports, custom_objects) if (imports or custom_objects) else None
    if isinstance(model, keras.Model):
        return model
    if not isinstance(model, (str, os.PathLike)):
        raise ModelLoadError(f"expected a tf.keras Model or a path to a .keras/.h5 file, got {type(model).__name__}"
                             + (" (a Keras 3 model? larq needs tf-keras: build it with tf.keras / tf_keras)"
                                if type(model).__module__.startswith("keras") else ""))
    p = Path(model)
    if not p.exists():
        raise ModelLoadError(f"model file not found: {p}")
    if p.is_dir() or p.suffix.lower() not in (".keras", ".h5", ".hdf5"):
        raise ModelLoadError(f"{p} is not a model file: expected a .keras or .h5 file")
    from .safe_load import inspect_file
    inspect_file(p, user, trust_lambda)     # Lambda / custom classes / Keras 3, before anything is deserialized
    kw = {"safe_mode": False} if trust_lambda and p.suffix.lower() == ".keras" else {}
    try:
        loaded = keras.models.load_model(str(p), compile=False, custom_objects=user.objects if user else None, **kw)
    except Exception as e:  # corrupt/truncated files raise many different exception types
        why = " ".join(str(e).split())          # the full cause, on one line
        hint = ("; the file looks saved with Keras 3 (batch_shape): larq needs tf-keras, so build and save the "
                "model with tf_keras") if "batch_shape" in why else ""
        raise ModelLoadError(f"cannot load {p}: {type(e).__name__}: {why}{hint}") from None
    if not isinstance(loaded, keras.Model):
        raise ModelLoadError(f"{p} does not hold a Keras model")
    return loaded


def to_ir(model, name: str = "model") -> ir.Graph:
    """Translate a built tf.keras model (one input, one or more outputs) into an ir.Graph; the
    graph's `outputs` / `output_names` follow `model.outputs` / `model.output_names`."""
    from .._tf import tf_modules
    _, keras, _ = tf_modules()
    if not getattr(model, "built", False) or not hasattr(model, "_nodes_by_depth") or not model.inputs:
        raise ModelStructureError("the model has no defined input shape; build it with an Input layer "
                                  "(or call model.build(input_shape)) before exporting")
    if len(model.inputs) != 1:
        raise ModelStructureError(f"the model has {len(model.inputs)} inputs; larq2mcu exports single-input models "
                                  "(with one or more outputs)")
    if not model.outputs:
        raise ModelStructureError("the model has no outputs")
    in_shape = tuple(model.inputs[0].shape[1:])
    if any(d is None for d in in_shape):
        raise ModelStructureError(f"the input shape {in_shape} is not fully defined")
    if any(d < 1 for d in in_shape):
        raise ModelStructureError(f"the input shape {in_shape} has a zero-size axis")
    b = Builder()
    kmap = {}          # id(KerasTensor) → IR tensor name
    x = b.tensor(in_shape, ir.F32, stem="input", origin=ir.Origin(model.input_names[0]
                                                                   if hasattr(model, "input_names") else "input"))
    kmap[id(model.inputs[0])] = x
    seen_layers = set()
    for depth in sorted(model._nodes_by_depth, reverse=True):
        for node in model._nodes_by_depth[depth]:
            layer = node.layer
            if isinstance(layer, keras.layers.InputLayer):
                continue
            if isinstance(layer, keras.Model):
                raise UnsupportedLayerError(layer.name, type(layer).__name__,
                                            hint="nested models are not supported; rebuild the model flat")
            if layer.name in seen_layers:
                raise ModelStructureError(f"layer '{layer.name}' is used more than once (shared layer); "
                                          "larq2mcu needs each layer applied once")
            seen_layers.add(layer.name)
            ins = node.keras_inputs
            try:
                args = [kmap[id(t)] for t in ins]
            except KeyError:
                raise ModelStructureError(f"layer '{layer.name}' reads a tensor that is not computed from "
                                          "the model input") from None
            b.node = node          # the Keras node (TFOpLambda reads its call arguments)
            out = handler_for(layer)(b, layer, args)
            outs = node.outputs if isinstance(node.outputs, (list, tuple)) else [node.outputs]
            # a handler returns one IR tensor, or a list for a layer with several outputs (a
            # Lambda around tf.split, frontend/lambda_graph.py); only single outputs get an origin
            results = list(out) if isinstance(out, (list, tuple)) else [out]
            if len(outs) != len(results):
                raise UnsupportedLayerError(layer.name, type(layer).__name__, "outputs", len(outs), [1])
            for k_out, out in zip(outs, results):
                want = tuple(k_out.shape[1:])
                if any(d is not None and d < 1 for d in want):
                    raise UnsupportedLayerError(layer.name, type(layer).__name__, "output shape", want,
                                                "no zero-size axis",
                                                hint="a zero-size tensor cannot be exported (zero-size C array)")
                if tuple(b.shape(out)) != want:
                    raise ModelStructureError(f"internal: layer '{layer.name}' IR shape {b.shape(out)} != Keras {want}")
                if len(outs) == 1:
                    transform = "sign" if b.dtype(out) == ir.BITS else "identity"
                    b.set_origin(out, ir.Origin(layer.name, transform))
                kmap[id(k_out)] = out
    names = list(getattr(model, "output_names", None) or [f"output{i}" for i in range(len(model.outputs))])
    g_outs = []
    for i, (k_out, o_name) in enumerate(zip(model.outputs, names)):
        out = kmap.get(id(k_out))
        # a single output may be the input itself (a model of Dropout/linear layers: the C copies
        # the input); among several outputs each must be computed by a layer
        if out is None or (out == x and len(model.outputs) > 1):
            raise UnsupportedOutputError(o_name, i, "it is the model input itself (or not computed from it); "
                                         "larq2mcu exports outputs computed by at least one layer")
        g_outs.append(out)
    g = ir.Graph(tensors=dict(b.tensors), ops=tuple(b.ops), inputs=(x,), outputs=tuple(g_outs), name=name,
                 output_names=tuple(names))
    return g.prune()
