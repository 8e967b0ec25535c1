"""ONNX export, checked by running the file in onnxruntime against chainrule's own forward pass and predictions."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ConfigError

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from chainrule.export import register_skl2onnx, to_onnx  # noqa: E402

#: The bounds the export promises, per dtype: |onnxruntime - chainrule| <= tol * max(1, |chainrule|) elementwise,
#: so absolute for outputs in [-1, 1]; beyond, float32's spacing alone (9.5e-7 at 8) would exceed an absolute 1e-6.
TOLERANCE = {np.float32: 1e-6, np.float64: 1e-12}


def scaled_difference(actual, expected) -> float:
    """max |actual - expected| / max(1, |expected|), elementwise."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    return float(np.max(np.abs(actual - expected) / np.maximum(1.0, np.abs(expected)), initial=0.0))

#: Every registered activation, with non-default attributes where it has them.
ACTIVATIONS = [
    ("identity", {}), ("sigmoid", {}), ("tanh", {}), ("relu", {}), ("leaky_relu", {}), ("leaky_relu", {"alpha": 0.2}),
    ("elu", {}), ("elu", {"alpha": 0.5}), ("softplus", {}), ("gelu", {}), ("gelu", {"approximate": "tanh"}),
    ("softmax", {}), ("log_softmax", {}),
]

ACTIVATION_IDS = [name + "".join(f"-{k}={v}" for k, v in attrs.items()) for name, attrs in ACTIVATIONS]


def test_every_registered_activation_is_covered():
    assert {name for name, _ in ACTIVATIONS} == set(cr.ops.ACTIVATIONS)


def run(proto, x: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"X": x})


def random_net(rng: np.random.Generator, depth: int, name: str, attrs: dict, dtype) -> cr.MLP:
    """depth Linear layers of random widths; every activation is ``name``; dropout after some hidden layers."""
    sizes = [int(n) for n in rng.integers(1, 9, depth + 1)]
    act = cr.Activation(name, **attrs)
    dropout = [float(p) for p in rng.choice([0.0, 0.3], depth - 1)]
    net = cr.MLP(sizes, activation=[act] * (depth - 1), output_activation=cr.Activation(name, **attrs),
                 seed=rng, dtype=dtype, dropout=dropout)
    for p in net.parameters():  # non-zero biases, so a dropped bias would show
        p.data += rng.normal(0, 0.1, p.shape).astype(dtype)
    return net.eval()


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize(("name", "attrs"), ACTIVATIONS, ids=ACTIVATION_IDS)
def test_random_nets_of_depth_1_to_6_match_onnxruntime(name, attrs, dtype):
    rng = np.random.default_rng([7, len(name), int(1e3 * attrs.get("alpha", 0)), dtype().itemsize])
    for depth in range(1, 7):
        net = random_net(rng, depth, name, attrs, dtype)
        x = rng.normal(0, 1, (64, net.sizes[0])).astype(dtype)
        expected = net(x).data
        (actual,) = run(to_onnx(net), x)
        assert actual.dtype == dtype
        assert actual.shape == expected.shape
        assert scaled_difference(actual, expected) <= TOLERANCE[dtype], (depth, net)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_opset_20_writes_gelu_as_one_operator(approximate):
    rng = np.random.default_rng(3)
    net = random_net(rng, 3, "gelu", {"approximate": approximate}, np.float32)
    proto = to_onnx(net, opset=20)
    assert "Gelu" in {node.op_type for node in proto.graph.node}
    assert "Gelu" not in {node.op_type for node in to_onnx(net).graph.node}  # opset 17 composes it
    x = rng.normal(size=(32, net.sizes[0])).astype(np.float32)
    assert scaled_difference(run(proto, x)[0], net(x).data) <= TOLERANCE[np.float32]


def test_float64_erf_composition_across_its_pieces():
    # gelu(x) = x Phi(x) over the whole range the four erf pieces cover and beyond (|x / sqrt 2| > 6)
    net = cr.Sequential(cr.GELU())
    x = np.linspace(-12, 12, 4001).reshape(-1, 1)
    assert np.max(np.abs(run(to_onnx(net), x)[0] - net(x).data)) <= TOLERANCE[np.float64]


def test_dtype_casts_the_weights_and_file_is_written_atomically(tmp_path):
    net = cr.MLP([3, 4, 2], activation="tanh", seed=0)
    path = tmp_path / "net.onnx"
    to_onnx(net, path, dtype="float32")
    proto = onnx.load(path)
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert proto.opset_import[0].version == 17
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    assert np.max(np.abs(run(proto, x)[0] - net(x.astype(np.float64)).data)) < 1e-6
    assert [p.name for p in tmp_path.iterdir()] == ["net.onnx"]  # no temporary file left


def test_nested_sequential_and_bias_free_layers():
    rng = np.random.default_rng(1)
    inner = cr.Sequential(cr.Linear(4, 3, bias=False, seed=rng), cr.ELU(0.3))
    net = cr.Sequential(cr.Linear(2, 4, seed=rng), cr.Tanh(), inner, cr.Dropout(0.5), cr.Linear(3, 2, seed=rng))
    x = rng.normal(size=(10, 2))
    net.eval()
    assert np.max(np.abs(run(to_onnx(net), x)[0] - net(x).data)) <= TOLERANCE[np.float64]


# ------------------------------------------------------------------ estimators
sklearn = pytest.importorskip("sklearn")
from chainrule.sklearn import MLPClassifier, MLPRegressor  # noqa: E402


def blobs(n_classes: int, labels, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    y_index = rng.integers(0, n_classes, 120)
    x = rng.normal(size=(120, 4)) + y_index[:, None] * 0.8
    return x.astype(dtype), np.asarray(labels)[y_index]


CLASSIFIER_CASES = {
    "binary-strings": (2, np.array(["no", "yes"]), {}),
    "binary-bools": (2, np.array([False, True]), {}),
    "binary-softmax": (2, np.array([3, 9]), {"output_activation": "softmax"}),
    "multiclass-ints": (3, np.array([10, 20, 30]), {}),
    "multiclass-floats": (3, np.array([-1.0, 2.0, 4.0]), {"activation": "tanh"}),
    "multiclass-sigmoid-ovr": (3, np.array(["a", "b", "c"]), {"output_activation": "sigmoid"}),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("case", list(CLASSIFIER_CASES))
def test_classifier_probabilities_and_original_labels(case, dtype):
    n_classes, labels, params = CLASSIFIER_CASES[case]
    x, y = blobs(n_classes, labels, dtype)
    clf = MLPClassifier((6, 5), solver="lbfgs", max_iter=60, random_state=0, **params).fit(x, y)
    label, proba = run(to_onnx(clf, dtype=dtype), x)
    assert proba.dtype == dtype
    assert scaled_difference(proba, clf.predict_proba(x)) <= TOLERANCE[dtype]
    np.testing.assert_array_equal(label, clf.predict(x))
    assert label.dtype == clf.predict(x).dtype or label.dtype == object


def test_multilabel_classifier_gives_indicator_labels():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(80, 3))
    y = np.stack([x[:, 0] > 0, x[:, 1] + x[:, 2] > 0], axis=1).astype(int)
    clf = MLPClassifier((5,), solver="lbfgs", max_iter=50, random_state=0).fit(x, y)
    label, proba = run(to_onnx(clf), x)
    np.testing.assert_array_equal(label, clf.predict(x))
    assert scaled_difference(proba, clf.predict_proba(x)) <= TOLERANCE[np.float64]


@pytest.mark.parametrize("params", [{}, {"loss": "poisson"}], ids=["squared_error", "poisson"])
@pytest.mark.parametrize("n_outputs", [1, 2])
def test_regressor_predictions(params, n_outputs):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(60, 3))
    y = np.abs(x[:, :n_outputs] + 0.5 * x[:, 1:2])
    reg = MLPRegressor(hidden_layer_sizes=(7,), activation="softplus", solver="lbfgs", max_iter=40,
                       random_state=0, **params).fit(x, y.ravel() if n_outputs == 1 else y)
    (predictions,) = run(to_onnx(reg), x)
    assert predictions.shape == reg.predict(x).shape
    assert scaled_difference(predictions, reg.predict(x)) <= TOLERANCE[np.float64]


def test_pipeline_with_scaler_converts_whole_through_skl2onnx():
    skl2onnx = pytest.importorskip("skl2onnx")
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    register_skl2onnx()
    x, y = blobs(3, np.array([0, 1, 2]), seed=5)
    x = x * 10 + 3
    pipe = Pipeline([("scale", StandardScaler()),
                     ("mlp", MLPClassifier((8,), solver="lbfgs", max_iter=80, random_state=0))]).fit(x, y)
    for dtype in (np.float32, np.float64):
        proto = skl2onnx.to_onnx(pipe, x[:1].astype(dtype), options={id(pipe.steps[1][1]): {"zipmap": False}})
        session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
        label, proba = session.run(None, {session.get_inputs()[0].name: x.astype(dtype)})
        np.testing.assert_array_equal(label, pipe.predict(x))
        # StandardScaler runs in the input's dtype in the ONNX graph, in float64 in scikit-learn
        assert scaled_difference(proba, pipe.predict_proba(x)) <= (1e-5 if dtype == np.float32 else 1e-12)
    # the default ZipMap output: one {label: probability} per sample
    proto = skl2onnx.to_onnx(pipe, x[:1].astype(np.float32))
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    label, maps = session.run(None, {session.get_inputs()[0].name: x.astype(np.float32)})
    assert set(maps[0]) == {0, 1, 2}
    np.testing.assert_array_equal(label, pipe.predict(x))


@pytest.mark.parametrize(("labels", "expected"), [
    (np.array(["setosa", "versicolor", "virginica"]), None), (np.array([False, True, True]), [0, 1, 1]),
], ids=["strings", "booleans-as-0/1"])
def test_skl2onnx_label_types(labels, expected):
    skl2onnx = pytest.importorskip("skl2onnx")
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    register_skl2onnx()
    x, y = blobs(3, labels, seed=7)
    pipe = make_pipeline(StandardScaler(), MLPClassifier((5,), solver="lbfgs", max_iter=40, random_state=0))
    pipe.fit(x, y)
    proto = skl2onnx.to_onnx(pipe, x[:1], options={MLPClassifier: {"zipmap": False}})
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    label, proba = session.run(None, {session.get_inputs()[0].name: x})
    predicted = pipe.predict(x)
    np.testing.assert_array_equal(label, predicted if expected is None else predicted.astype(np.int64))
    assert scaled_difference(proba, pipe.predict_proba(x)) <= TOLERANCE[np.float64]


def test_skl2onnx_refuses_what_its_outputs_cannot_hold():
    skl2onnx = pytest.importorskip("skl2onnx")

    register_skl2onnx()
    x, y = blobs(3, np.array([-1.0, 2.0, 4.0]))
    clf = MLPClassifier((4,), solver="lbfgs", max_iter=5, random_state=0).fit(x, y)
    with pytest.raises(ConfigError, match="int64 or string labels, these classes_ are float64"):
        skl2onnx.to_onnx(clf, x[:1])
    multilabel = MLPClassifier((4,), solver="lbfgs", max_iter=5, random_state=0).fit(x, np.stack([y > 0, y > 3], 1))
    with pytest.raises(ConfigError, match="multilabel MLPClassifier converts with chainrule.export.to_onnx"):
        skl2onnx.to_onnx(multilabel, x[:1], options={MLPClassifier: {"zipmap": False}})


def test_regressor_in_a_pipeline_through_skl2onnx():
    skl2onnx = pytest.importorskip("skl2onnx")
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    register_skl2onnx()
    rng = np.random.default_rng(6)
    x = rng.normal(3, 4, size=(50, 3))
    pipe = make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(5,), solver="lbfgs", max_iter=30,
                                                        random_state=0)).fit(x, x[:, 0] - x[:, 2])
    proto = skl2onnx.to_onnx(pipe, x[:1])
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    (predictions,) = session.run(None, {session.get_inputs()[0].name: x})
    assert predictions.shape == (50, 1)  # skl2onnx's regressor convention
    assert scaled_difference(predictions.ravel(), pipe.predict(x)) <= TOLERANCE[np.float64]


# ------------------------------------------------------------------ errors
def test_unfitted_estimator_is_refused_with_what_to_do():
    with pytest.raises(ConfigError, match=r"MLPClassifier is not fitted: call fit\(X, y\)"):
        to_onnx(MLPClassifier())


def test_function_activation_and_unknown_modules_are_refused():
    swish = cr.FunctionActivation(lambda net: net * cr.functional.sigmoid(net), name="swish")
    with pytest.raises(ConfigError, match="FunctionActivation 'swish'.*export supports Linear"):
        to_onnx(cr.MLP([2, 3, 1], activation=swish))

    class Custom(cr.Module):
        def forward(self, x):
            return x

    with pytest.raises(ConfigError, match="module 1 of Sequential is .*Custom, which export does not know"):
        to_onnx(cr.Sequential(cr.Linear(2, 2), Custom()))
    with pytest.raises(ConfigError, match="expected a chainrule Module .* got builtins.str"):
        to_onnx("model.onnx")


def test_foreign_estimators_are_sent_to_skl2onnx():
    from sklearn.neural_network import MLPClassifier as SkMLP

    with pytest.raises(ConfigError, match="use skl2onnx"):
        to_onnx(SkMLP())


@pytest.mark.parametrize("kwargs", [{"opset": 12}, {"opset": 99}, {"dtype": "int32"}])
def test_bad_opset_or_dtype(kwargs):
    with pytest.raises(ConfigError, match="opset must be|float32 or float64"):
        to_onnx(cr.MLP([2, 2]), **kwargs)


def test_missing_onnx_names_the_extra(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_onnx(name, *args, **kwargs):
        if name == "onnx" or name.startswith("onnx."):
            raise ImportError("No module named 'onnx'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnx)
    with pytest.raises(ImportError, match=r'pip install "chainrule\[onnx\]"'):
        to_onnx(cr.MLP([2, 2]))
    with pytest.raises(ImportError, match=r'pip install "chainrule\[onnx\]"'):
        register_skl2onnx()


def test_import_chainrule_export_loads_neither_onnx_nor_torch():
    import subprocess
    import sys

    probe = ("import sys, chainrule.export\n"
             "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))")
    loaded = set(subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
                 .stdout.split())
    assert not loaded & {"onnx", "onnxruntime", "skl2onnx", "torch", "sklearn", "scipy"}


# ------------------------------------------------------------------ command line
def test_cli_export_writes_a_file_onnxruntime_runs(tmp_path, capsys):
    from chainrule.cli import main

    net = cr.MLP([3, 5, 2], activation="elu", output_activation="softmax", seed=0)
    cr.save(net, tmp_path / "net.model")
    assert main(["export", str(tmp_path / "net.model"), "--onnx", str(tmp_path / "net.onnx"), "--dtype",
                 "float32"]) == 0
    assert "wrote" in capsys.readouterr().out
    x = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    (out,) = run(onnx.load(tmp_path / "net.onnx"), x)
    assert scaled_difference(out, net(x.astype(np.float64)).data) < 1e-6


@pytest.mark.parametrize(("extra", "message"), [
    (["--opset", "5"], "opset must be an int from 13"),
    (["--onnx-typo"], "unrecognized arguments"),
])
def test_cli_export_errors_are_one_line_and_exit_2(tmp_path, capsys, extra, message):
    from chainrule.cli import main

    cr.save(cr.MLP([2, 2], seed=0), tmp_path / "net.model")
    assert main(["export", str(tmp_path / "net.model"), "--onnx", str(tmp_path / "net.onnx"), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "net.onnx").exists()


def test_cli_export_without_onnx_names_the_extra_before_reading_the_model(tmp_path, capsys, monkeypatch):
    import builtins

    from chainrule.cli import main

    real_import = builtins.__import__
    monkeypatch.setattr(builtins, "__import__", lambda name, *a, **k: (_ for _ in ()).throw(ImportError(name))
                        if name == "onnx" else real_import(name, *a, **k))
    assert main(["export", str(tmp_path / "missing.model"), "--onnx", str(tmp_path / "net.onnx")]) == 2
    assert capsys.readouterr().err.strip() == ('chainrule: error: chainrule export needs the onnx package: '
                                               'pip install "chainrule[onnx]"')


def test_chainrule_export_loads_on_first_attribute_access():
    import subprocess
    import sys

    probe = ("import chainrule, sys\nassert 'chainrule.export' not in sys.modules\n"
             "print(chainrule.export.to_onnx.__name__)")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "to_onnx"
