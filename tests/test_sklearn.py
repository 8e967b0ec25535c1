"""chainrule.sklearn against scikit-learn itself: the same random_state gives the same model.

Every parity test fits scikit-learn's estimator and ours with the same settings and
compares weights, losses and curves to 1e-8. The options beyond scikit-learn are
checked against PyTorch in float64 (one full-batch gradient step) and by showing
that each changes what it should and nothing else.
"""

from __future__ import annotations

import pickle
import warnings

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn import neural_network as sk
from sklearn.datasets import make_classification, make_multilabel_classification, make_regression
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

import chainrule as cr
from chainrule import functional as F
from chainrule.callbacks import EarlyStopping, LambdaCallback
from chainrule.errors import ConfigError, DataError
from chainrule.nn import MLP, Dropout, LeakyReLU
from chainrule.sklearn import MLPClassifier, MLPRegressor
from chainrule.tensor import Tensor

ATOL = 1e-8

pytestmark = [
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
    pytest.mark.filterwarnings("ignore:Got `batch_size` less than 1 or larger than sample size"),
]


# ------------------------------------------------------------------ data and helpers
def _classification(n_classes=3, n=60, seed=0):
    x, y = make_classification(n, 5, n_informative=3, n_redundant=0, n_classes=n_classes, random_state=seed)
    return x, y


def _regression(n_targets=1, n=50):
    x, y = make_regression(n, 4, n_targets=n_targets, noise=0.1, random_state=0)
    return x, y / 100


def _fit_pair(ours_cls, ref_cls, x, y, fit_kw=None, **params):
    """Fit ours and scikit-learn's with the same parameters; scikit-learn's underflows are its own."""
    fit_kw = fit_kw or {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        with np.errstate(under="ignore"):
            ref = ref_cls(**params).fit(x, y, **fit_kw)
        ours = ours_cls(**params).fit(x, y, **fit_kw)
    return ours, ref


def _assert_same_model(ours, ref, atol=ATOL):
    assert len(ours.coefs_) == len(ref.coefs_)
    for a, b in zip(ours.coefs_ + ours.intercepts_, ref.coefs_ + ref.intercepts_):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=0, atol=atol)
    for name in ("n_iter_", "t_", "n_layers_", "n_outputs_", "out_activation_", "n_features_in_"):
        assert getattr(ours, name) == getattr(ref, name), name
    np.testing.assert_allclose(ours.loss_, ref.loss_, rtol=1e-9, atol=atol)
    for name in ("loss_curve_", "best_loss_", "validation_scores_", "best_validation_score_"):
        a, b = getattr(ours, name, "absent"), getattr(ref, name, "absent")
        if b is None or isinstance(b, str):
            assert a == b, name
        else:
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=atol, err_msg=name)


SMALL = dict(hidden_layer_sizes=(7, 4), max_iter=6, random_state=3, batch_size=16)


# ------------------------------------------------------------------ parity with scikit-learn
@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
def test_classifier_matches_sklearn(solver, activation):
    x, y = _classification(3)
    ours, ref = _fit_pair(MLPClassifier, sk.MLPClassifier, x, y, solver=solver, activation=activation,
                          learning_rate_init=0.05, **SMALL)
    _assert_same_model(ours, ref)
    np.testing.assert_array_equal(ours.classes_, ref.classes_)
    with np.errstate(under="ignore"):
        expected = ref.predict_proba(x), ref.predict_log_proba(x), ref.predict(x), ref.score(x, y)
    np.testing.assert_allclose(ours.predict_proba(x), expected[0], atol=ATOL)
    np.testing.assert_allclose(ours.predict_log_proba(x), expected[1], atol=1e-6)
    np.testing.assert_array_equal(ours.predict(x), expected[2])
    assert ours.score(x, y) == expected[3]


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("target", ["binary", "multilabel", "strings"])
def test_classifier_targets_match_sklearn(solver, target):
    x, y = _classification(2)
    if target == "multilabel":
        x, y = make_multilabel_classification(60, 5, n_classes=3, random_state=0)
    elif target == "strings":
        y = np.array(["cat", "dog", "emu"])[_classification(3)[1]]
    ours, ref = _fit_pair(MLPClassifier, sk.MLPClassifier, x, y, solver=solver, learning_rate_init=0.05, **SMALL)
    _assert_same_model(ours, ref)
    np.testing.assert_array_equal(ours.predict(x), ref.predict(x))
    np.testing.assert_allclose(ours.predict_proba(x), ref.predict_proba(x), atol=ATOL)


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("case", ["single", "multi", "poisson"])
def test_regressor_matches_sklearn(solver, case):
    x, y = _regression(2 if case == "multi" else 1)
    params = dict(SMALL, solver=solver, learning_rate_init=0.01)
    if case == "poisson":
        y = np.random.default_rng(0).poisson(np.exp(x[:, 0] / 3))
        params["loss"] = "poisson"
    ours, ref = _fit_pair(MLPRegressor, sk.MLPRegressor, x, y, **params)
    _assert_same_model(ours, ref)
    np.testing.assert_allclose(ours.predict(x), ref.predict(x), atol=1e-7)
    np.testing.assert_allclose(ours.score(x, y), ref.score(x, y), atol=ATOL)


SGD_VARIANTS = {
    "plain": dict(momentum=0.0),
    "momentum": dict(nesterovs_momentum=False),
    "nesterov": dict(),
    "invscaling": dict(learning_rate="invscaling", power_t=0.3),
    # a tol this large means no epoch improves: eta is divided by 5 until it is <= 1e-6, then training stops
    "adaptive": dict(learning_rate="adaptive", tol=0.5, n_iter_no_change=1, learning_rate_init=1e-5, max_iter=20),
    "no_shuffle": dict(shuffle=False),
    "big_batch": dict(batch_size=1000),
    "tol_stop": dict(tol=0.05, n_iter_no_change=2, max_iter=50),
    "early_stopping": dict(early_stopping=True, validation_fraction=0.2, n_iter_no_change=3, max_iter=30),
    "early_adaptive": dict(early_stopping=True, learning_rate="adaptive", tol=0.5, n_iter_no_change=1,
                           learning_rate_init=1e-5, max_iter=20),
}


@pytest.mark.parametrize("variant", list(SGD_VARIANTS))
@pytest.mark.parametrize("estimator", ["classifier", "regressor"])
def test_sgd_variants_match_sklearn(variant, estimator):
    params = dict(SMALL, solver="sgd", learning_rate_init=0.05)
    params.update(SGD_VARIANTS[variant])
    if estimator == "classifier":
        x, y = _classification(2, n=80)
        ours, ref = _fit_pair(MLPClassifier, sk.MLPClassifier, x, y, **params)
    else:
        x, y = _regression(1, n=80)
        ours, ref = _fit_pair(MLPRegressor, sk.MLPRegressor, x, y, **params)
    _assert_same_model(ours, ref)
    if variant == "adaptive":
        assert ours.n_iter_ < params["max_iter"]


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("early_stopping", [False, True])
def test_sample_weight_matches_sklearn(solver, early_stopping):
    x, y = _classification(3, n=80)
    w = np.random.default_rng(1).uniform(0.2, 3.0, len(y))
    ours, ref = _fit_pair(MLPClassifier, sk.MLPClassifier, x, y, {"sample_weight": w}, solver=solver,
                          early_stopping=early_stopping and solver != "lbfgs", learning_rate_init=0.05, **SMALL)
    _assert_same_model(ours, ref)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_sparse_input_matches_sklearn(fmt, solver):
    x, y = _classification(3)
    x[np.abs(x) < 0.8] = 0
    xs = sp.csr_matrix(x) if fmt == "csr" else sp.csc_matrix(x)
    ours, ref = _fit_pair(MLPClassifier, sk.MLPClassifier, xs, y, solver=solver, learning_rate_init=0.05, **SMALL)
    _assert_same_model(ours, ref)
    dense = MLPClassifier(solver=solver, learning_rate_init=0.05, **SMALL).fit(x, y)
    np.testing.assert_allclose(ours.predict_proba(xs), dense.predict_proba(x), atol=1e-12)


def test_float32_stays_float32_and_matches_sklearn():
    x, y = _classification(3)
    x32 = x.astype(np.float32)
    ours, ref = _fit_pair(MLPClassifier, sk.MLPClassifier, x32, y, solver="adam", learning_rate_init=0.05, **SMALL)
    assert all(c.dtype == np.float32 for c in ours.coefs_ + ours.intercepts_)
    assert ours.model_.dtype == np.float32 and ours.predict_proba(x32).dtype == np.float32
    _assert_same_model(ours, ref, atol=1e-4)


def test_warm_start_and_partial_fit_match_sklearn():
    x, y = _classification(3)
    params = dict(SMALL, solver="adam", learning_rate_init=0.05)
    ours, ref = MLPClassifier(warm_start=True, **params), sk.MLPClassifier(warm_start=True, **params)
    with warnings.catch_warnings(), np.errstate(under="ignore"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        for _ in range(2):
            ours.fit(x, y)
            ref.fit(x, y)
    _assert_same_model(ours, ref)
    ours, ref = MLPClassifier(**params), sk.MLPClassifier(**params)
    for lo in (0, 20, 40):
        ours.partial_fit(x[lo:lo + 20], y[lo:lo + 20], classes=[0, 1, 2])
        ref.partial_fit(x[lo:lo + 20], y[lo:lo + 20], classes=[0, 1, 2])
    _assert_same_model(ours, ref)
    reg, ref_reg = MLPRegressor(**params), sk.MLPRegressor(**params)
    xr, yr = _regression()
    for _ in range(3):
        reg.partial_fit(xr, yr)
        ref_reg.partial_fit(xr, yr)
    _assert_same_model(reg, ref_reg)


@pytest.mark.parametrize("solver", ["sgd", "lbfgs"])
def test_convergence_warning_when_max_iter_is_reached(solver):
    x, y = _classification(3)
    with pytest.warns(ConvergenceWarning):
        MLPClassifier(solver=solver, max_iter=2, random_state=0).fit(x, y)


# ------------------------------------------------------------------ the same errors
def _messages(make_call):
    """The exception type and message from scikit-learn's estimators and ours."""
    out = []
    for module in (sk, None):
        classes = (sk.MLPClassifier, sk.MLPRegressor) if module else (MLPClassifier, MLPRegressor)
        with pytest.raises(Exception) as info:
            make_call(*classes)
        out.append(info.value)
    return out


X_ERR, Y_ERR = _classification(3, n=30)

ERROR_CASES = {
    "hidden_size_zero": lambda clf, reg: clf(hidden_layer_sizes=[3, 0]).fit(X_ERR, Y_ERR),
    "partial_fit_early_stopping": lambda clf, reg: clf(early_stopping=True).partial_fit(X_ERR, Y_ERR,
                                                                                         classes=[0, 1, 2]),
    "partial_fit_without_classes": lambda clf, reg: clf().partial_fit(X_ERR, Y_ERR),
    "partial_fit_new_class": lambda clf, reg: clf(max_iter=2).partial_fit(X_ERR, Y_ERR, classes=[0, 1, 2])
    .partial_fit(X_ERR, Y_ERR + 1),
    "warm_start_new_classes": lambda clf, reg: clf(warm_start=True, max_iter=2).fit(X_ERR, Y_ERR).fit(X_ERR, Y_ERR + 1),
    "validation_too_small": lambda clf, reg: clf(early_stopping=True, validation_fraction=0.01).fit(X_ERR, Y_ERR),
    "wrong_n_features": lambda clf, reg: clf(max_iter=2).fit(X_ERR, Y_ERR).predict(X_ERR[:, :3]),
    "nan_input": lambda clf, reg: reg().fit(np.where(X_ERR > 2, np.nan, X_ERR), Y_ERR),
    "continuous_labels": lambda clf, reg: clf().fit(X_ERR, X_ERR[:, 0]),
    "bad_solver": lambda clf, reg: clf(solver="newton").fit(X_ERR, Y_ERR),
    "bad_alpha": lambda clf, reg: reg(alpha=-1.0).fit(X_ERR, Y_ERR),
}


@pytest.mark.parametrize("case", list(ERROR_CASES))
def test_errors_match_sklearn(case):
    with warnings.catch_warnings(), np.errstate(under="ignore"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs, ours = _messages(ERROR_CASES[case])
    assert isinstance(ours, type(theirs)) or isinstance(ours, ValueError) and isinstance(theirs, ValueError)
    assert isinstance(ours, (ConfigError, DataError)), type(ours)
    if case.startswith("bad_"):
        assert isinstance(ours, InvalidParameterError)
        name = case.removeprefix("bad_")
        assert f"The '{name}' parameter of" in str(ours) and f"The '{name}' parameter of" in str(theirs)
    else:
        assert str(ours) == str(theirs)


def test_partial_fit_needs_a_stochastic_solver_and_predict_a_fit():
    for cls in (MLPClassifier, MLPRegressor):
        assert not hasattr(cls(solver="lbfgs"), "partial_fit")
        assert hasattr(cls(solver="sgd"), "partial_fit")
        with pytest.raises(NotFittedError):
            cls().predict(X_ERR)


# ------------------------------------------------------------------ pipelines, search, persistence
def test_pipeline_and_grid_search_choose_as_sklearn_does():
    x, y = _classification(3, n=90)
    params = dict(solver="lbfgs", max_iter=20, random_state=0)
    grid = {"mlpclassifier__alpha": [1e-4, 1.0], "mlpclassifier__hidden_layer_sizes": [(3,), (8,)]}
    results = []
    for cls in (MLPClassifier, sk.MLPClassifier):
        search = GridSearchCV(make_pipeline(StandardScaler(), cls(**params)), grid, cv=3)
        with warnings.catch_warnings(), np.errstate(under="ignore" if cls is sk.MLPClassifier else "raise"):
            warnings.simplefilter("ignore", ConvergenceWarning)
            results.append(search.fit(x, y))
    ours, ref = results
    assert ours.best_params_ == ref.best_params_
    np.testing.assert_allclose(ours.cv_results_["mean_test_score"], ref.cv_results_["mean_test_score"], atol=1e-12)
    np.testing.assert_allclose(ours.predict_proba(x), ref.predict_proba(x), atol=ATOL)


def test_pickle_and_joblib_round_trip(tmp_path):
    x, y = _classification(3)
    est = MLPClassifier(solver="adam", learning_rate_init=0.05, **SMALL)
    est.partial_fit(x, y, classes=[0, 1, 2])
    copies = [pickle.loads(pickle.dumps(est))]
    joblib.dump(est, tmp_path / "mlp.joblib")
    copies.append(joblib.load(tmp_path / "mlp.joblib"))
    est.partial_fit(x, y)
    for copy in copies:
        assert isinstance(copy.model_, MLP)
        copy.partial_fit(x, y)  # the optimizer's moments travel too: the next epoch is the same
        _assert_same_model(copy, est, atol=0)
        np.testing.assert_array_equal(copy.predict_proba(x), est.predict_proba(x))


def test_coefs_are_the_networks_arrays():
    x, y = _classification(3)
    est = MLPClassifier(max_iter=3, **{k: v for k, v in SMALL.items() if k != "max_iter"})
    with pytest.warns(ConvergenceWarning):
        est.fit(x, y)
    assert est.coefs_[0] is est.model_[0].weight.data
    est.coefs_ = [np.zeros_like(c) for c in est.coefs_]
    out = est.model_(Tensor(x)).data
    np.testing.assert_allclose(out, np.tile(est.predict_proba(x[:1]), (len(x), 1)))
    np.testing.assert_allclose(est.predict_proba(x)[0], _softmax(est.intercepts_[-1]))


def _softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


# ------------------------------------------------------------------ beyond scikit-learn: one step against PyTorch
def _torch_objective(weights, biases, x, target, hidden, output, loss, alpha, l1):
    """E(w) written out in PyTorch float64: (value for the gradient, value as reported, gradients)."""
    torch = pytest.importorskip("torch")

    fns = {"tanh": torch.tanh, "logistic": torch.sigmoid, "sigmoid": torch.sigmoid, "relu": torch.relu,
           "elu": torch.nn.functional.elu, "identity": lambda z: z, "softmax": lambda z: torch.softmax(z, 1),
           "leaky0.1": lambda z: torch.nn.functional.leaky_relu(z, 0.1)}
    ws = [torch.tensor(w, dtype=torch.float64, requires_grad=True) for w in weights]
    bs = [torch.tensor(b, dtype=torch.float64, requires_grad=True) for b in biases]
    h, t = torch.tensor(x), torch.tensor(target, dtype=torch.float64)
    for i, (w, b) in enumerate(zip(ws, bs)):
        net = h @ w + b
        h = fns[hidden[i] if i < len(hidden) else output](net)
    n, k = t.shape
    if loss == "log_loss":
        data = -(t * torch.log(h)).sum() / n if output == "softmax" else \
            -(t * torch.log(h) + (1 - t) * torch.log(1 - h)).sum() / n
        reported = data
    elif loss == "squared_error":  # scikit-learn's: the gradient of the per-sample sum, reported over outputs
        data = 0.5 * ((h - t) ** 2).sum() / n
        reported = data / k
    else:  # mse
        data = reported = ((h - t) ** 2).mean()
    penalty = alpha / (2 * n) * sum((w ** 2).sum() for w in ws) + l1 / n * sum(w.abs().sum() for w in ws)
    (data + penalty).backward()
    return float((reported + penalty).detach()), [w.grad.numpy() for w in ws] + [b.grad.numpy() for b in bs]


ONE_STEP_CASES = {
    "activation_list_l1": (MLPClassifier, dict(hidden_layer_sizes=(6, 5), activation=["tanh", "logistic"],
                                                l1=0.02, alpha=0.01), ["tanh", "logistic"], "softmax", "log_loss"),
    "activation_module_squared": (MLPClassifier, dict(hidden_layer_sizes=(6,), activation=LeakyReLU(0.1),
                                                      loss="squared_error"), ["leaky0.1"], "softmax",
                                  "squared_error"),
    "binary_softmax": (MLPClassifier, dict(hidden_layer_sizes=(6,), activation="tanh", output_activation="softmax"),
                       ["tanh"], "softmax", "log_loss"),
    "sigmoid_squared_error": (MLPRegressor, dict(hidden_layer_sizes=(6,), activation="logistic",
                                                 output_activation="sigmoid", l1=0.01), ["logistic"], "sigmoid",
                              "squared_error"),
    "tanh_mse": (MLPRegressor, dict(hidden_layer_sizes=(6,), activation="elu", output_activation="tanh",
                                    loss="mse"), ["elu"], "tanh", "mse"),
    "sigmoid_bce": (MLPRegressor, dict(hidden_layer_sizes=(6,), activation="relu",
                                       loss="binary_cross_entropy"), ["relu"], "sigmoid", "log_loss"),
}


@pytest.mark.parametrize("case", list(ONE_STEP_CASES))
def test_options_take_one_gradient_step_as_pytorch_does(case):
    cls, options, hidden, output, loss = ONE_STEP_CASES[case]
    x, labels = _classification(2 if case == "binary_softmax" else 3, n=40)
    if cls is MLPClassifier:
        y = labels
        target = np.eye(2)[labels] if case == "binary_softmax" else np.eye(3)[labels]
    else:
        y = target = np.column_stack([np.tanh(x[:, 0]) / 2 + 0.5, 1 / (1 + np.exp(-x[:, 1]))])
    start = {}
    lr = 0.1
    est = cls(solver="sgd", momentum=0.0, batch_size=len(x), shuffle=False, max_iter=1, learning_rate_init=lr,
              random_state=0, callbacks=[LambdaCallback(on_train_begin=lambda s: start.update(s.model.state_dict()))],
              **options).fit(x, y)
    names = [name for name, _ in est.model_.named_parameters()]
    w0 = [start[n] for n in names if n.endswith("weight")]
    b0 = [start[n] for n in names if n.endswith("bias")]
    reported, grads = _torch_objective(w0, b0, x, target, hidden, output, loss, est.alpha, est.l1)
    steps = [(p0 - p1) / lr for p0, p1 in zip(w0 + b0, est.coefs_ + est.intercepts_)]
    for step, grad in zip(steps, grads):
        np.testing.assert_allclose(step, grad, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(est.loss_, reported, rtol=1e-10)
    assert est.out_activation_ == {"sigmoid": "logistic"}.get(output, output)


# ------------------------------------------------------------------ beyond scikit-learn: each option alone
def test_an_activation_list_of_one_name_is_that_name():
    x, y = _classification(3)
    a = MLPClassifier(activation=["tanh", "tanh"], **SMALL).fit(x, y)
    b = MLPClassifier(activation="tanh", **SMALL).fit(x, y)
    _assert_same_model(a, b, atol=0)
    assert [type(m).__name__ for m in a.model_] == ["Linear", "Tanh", "Linear", "Tanh", "Linear", "Softmax"]


def _tanh_by_hand(net):
    """tanh written with chainrule's operations, (e^net - e^-net) / (e^net + e^-net)."""
    return (F.exp(net) - F.exp(-net)) / (F.exp(net) + F.exp(-net))


def test_a_function_activation_trains_like_the_registered_one():
    x, y = _classification(3)
    custom = MLPClassifier(activation=_tanh_by_hand, **SMALL).fit(x, y)
    builtin = MLPClassifier(activation="tanh", **SMALL).fit(x, y)
    for a, b in zip(custom.coefs_ + custom.intercepts_, builtin.coefs_ + builtin.intercepts_, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    assert [type(m).__name__ for m in custom.model_][:2] == ["Linear", "FunctionActivation"]
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(custom)).predict_proba(x), custom.predict_proba(x))


def test_a_function_activation_mixes_with_names_in_pipelines_and_grid_search():
    x, y = _classification(3)
    swish = lambda net: net * F.sigmoid(net)  # noqa: E731
    grid = GridSearchCV(make_pipeline(StandardScaler(), MLPClassifier(**SMALL)),
                        {"mlpclassifier__activation": [["relu", swish], "relu"]}, cv=2).fit(x, y)
    assert grid.best_estimator_[-1].n_layers_ == 4
    assert 0 <= grid.best_score_ <= 1


def test_a_function_activation_is_refused_where_it_cannot_go(tmp_path):
    x, y = _classification(3)
    est = MLPClassifier(activation=_tanh_by_hand, **SMALL).fit(x, y)
    with pytest.raises(ConfigError, match="cannot be saved"):
        cr.save(est.model_, tmp_path / "custom.crm")
    with pytest.raises(ConfigError, match="learner tools"):
        cr.trace(est.model_, x[0], np.eye(est.n_outputs_)[0])
    with pytest.raises(ConfigError, match="returned ndarray"):
        MLPClassifier(activation=lambda net: np.tanh(net.data), **SMALL).fit(x, y)
    with pytest.raises(InvalidParameterError):
        MLPClassifier(activation=42).fit(x, y)


def test_dropout_changes_training_only():
    x, y = _classification(3)
    starts = []
    record = LambdaCallback(on_train_begin=lambda s: starts.append(s.model.state_dict()))
    plain = MLPClassifier(callbacks=[record], **SMALL).fit(x, y)
    dropped = MLPClassifier(dropout=0.3, callbacks=[record], **SMALL).fit(x, y)
    again = MLPClassifier(dropout=0.3, **SMALL).fit(x, y)
    assert all(np.array_equal(a, b) for a, b in zip(starts[0].values(), starts[1].values(), strict=True))
    assert not np.allclose(plain.coefs_[0], dropped.coefs_[0])
    _assert_same_model(again, dropped, atol=0)  # masks come from random_state
    assert sum(isinstance(m, Dropout) for m in dropped.model_) == 2
    assert not any(isinstance(m, Dropout) for m in plain.model_)
    assert not dropped.model_.training
    np.testing.assert_array_equal(dropped.predict_proba(x), dropped.predict_proba(x))


def test_dropout_module_is_inverted_and_seeded():
    x = Tensor(np.ones((400, 250)), requires_grad=True)
    layer = Dropout(0.3, seed=0)
    out = layer(x)
    out.sum().backward()
    kept = out.data != 0
    assert abs(1 - kept.mean() - 0.3) < 0.01
    np.testing.assert_allclose(out.data[kept], 1 / 0.7)
    np.testing.assert_array_equal(x.grad, out.data)  # d out / d x = m / (1 - p)
    np.testing.assert_array_equal(Dropout(0.3, seed=0)(x).data, out.data)
    assert layer.eval()(x) is x
    assert Dropout(0.5, seed=1)(Tensor(np.ones((3, 4), np.float32))).dtype == np.float32
    with pytest.raises(ConfigError):
        Dropout(1.0)
    net = MLP([3, 4, 5, 2], dropout=[0.2, 0.0], seed=0)
    assert [type(m).__name__ for m in net] == ["Linear", "Sigmoid", "Dropout", "Linear", "Sigmoid", "Linear",
                                              "Identity"]
    assert [n for n, _ in MLP([3, 4, 2], dropout=0.0).named_parameters()] == ["0.weight", "0.bias", "2.weight",
                                                                               "2.bias"]


def test_l1_shrinks_weights_and_nothing_else_changes_without_it():
    x, y = _classification(3)
    plain = MLPClassifier(solver="lbfgs", **SMALL).fit(x, y)
    sparse = MLPClassifier(solver="lbfgs", l1=0.5, **SMALL).fit(x, y)
    assert sum(np.abs(c).sum() for c in sparse.coefs_) < sum(np.abs(c).sum() for c in plain.coefs_)
    _assert_same_model(plain, sk.MLPClassifier(solver="lbfgs", **SMALL).fit(x, y))


def test_callbacks_see_each_epoch_and_can_stop_it():
    x, y = _classification(3)
    logs = []
    watch = LambdaCallback(on_epoch_end=lambda epoch, entry: logs.append(dict(entry)) or epoch == 2)
    stopped = MLPClassifier(solver="adam", callbacks=[watch], **SMALL).fit(x, y)
    short = MLPClassifier(solver="adam", **dict(SMALL, max_iter=3)).fit(x, y)
    assert stopped.n_iter_ == 3
    _assert_same_model(stopped, short, atol=0)
    assert [entry["loss"] for entry in logs] == stopped.loss_curve_
    assert all(entry["lr"] == SMALL.get("learning_rate_init", 0.001) for entry in logs)
    early = MLPRegressor(solver="sgd", learning_rate_init=0.5, callbacks=[EarlyStopping(patience=2)],
                         **dict(SMALL, max_iter=50)).fit(*_regression())
    assert early.n_iter_ < 50


def test_progress_prints_a_line_per_epoch_and_changes_nothing(capsys):
    x, y = _classification(3)
    shown = MLPClassifier(progress=True, **SMALL).fit(x, y)
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch")]
    assert len(lines) == shown.n_iter_
    _assert_same_model(shown, MLPClassifier(**SMALL).fit(x, y), atol=0)


def test_validation_loss_curve_is_the_held_out_log_loss():
    from sklearn.metrics import log_loss
    from sklearn.model_selection import train_test_split

    x, y = _classification(3, n=100)
    weights = []
    keep = LambdaCallback(on_epoch_end=lambda epoch, logs: weights.append(dict(keep.state.model.state_dict())))
    est = MLPClassifier(early_stopping=True, validation_fraction=0.2, callbacks=[keep], **SMALL).fit(x, y)
    # scikit-learn's split: the RandomState after the initial weights' draws, not stratified (3 outputs)
    rs = np.random.RandomState(SMALL["random_state"])
    for fan_in, fan_out in zip([5, 7, 4], [7, 4, 3]):
        rs.uniform(size=(fan_in, fan_out))
        rs.uniform(size=fan_out)
    _, x_val, _, y_val = train_test_split(x, y, random_state=rs, test_size=0.2)
    expected = []
    for state in weights:
        h = x_val
        for i in (0, 2, 4):
            h = h @ state[f"{i}.weight"] + state[f"{i}.bias"]
            h = np.maximum(h, 0) if i < 4 else np.exp(h - h.max(1, keepdims=True))
        expected.append(log_loss(y_val, h / h.sum(1, keepdims=True), labels=[0, 1, 2]))
    np.testing.assert_allclose(est.validation_loss_curve_, expected, rtol=1e-10)
    assert len(est.validation_loss_curve_) == est.n_iter_ == len(est.validation_scores_)
    assert MLPClassifier(**SMALL).fit(x, y).validation_loss_curve_ is None


def test_dtype_sets_the_networks_precision():
    x, y = _classification(3)
    single = MLPClassifier(dtype="float32", **SMALL).fit(x, y)
    double = MLPClassifier(**SMALL).fit(x, y)
    assert all(c.dtype == np.float32 for c in single.coefs_) and single.predict_proba(x).dtype == np.float32
    for a, b in zip(single.coefs_, double.coefs_):
        np.testing.assert_allclose(a, b, atol=1e-4)
    rounded = x.astype(np.float32)
    widened = MLPClassifier(dtype=np.float64, **SMALL).fit(rounded, y)
    _assert_same_model(widened, MLPClassifier(**SMALL).fit(rounded.astype(np.float64), y), atol=0)


def test_softmax_for_two_classes_and_sigmoid_for_many_give_proper_probabilities():
    x, y = _classification(2)
    two = MLPClassifier(output_activation="softmax", **SMALL).fit(x, y)
    proba = two.predict_proba(x)
    assert two.n_outputs_ == 2 and proba.shape == (len(x), 2)
    np.testing.assert_allclose(proba.sum(1), 1)
    np.testing.assert_array_equal(two.predict(x), two.classes_[proba.argmax(1)])
    x, y = _classification(3)
    ovr = MLPClassifier(output_activation="sigmoid", **SMALL).fit(x, y)
    proba = ovr.predict_proba(x)
    np.testing.assert_allclose(proba.sum(1), 1)
    np.testing.assert_array_equal(ovr.predict(x), ovr.classes_[proba.argmax(1)])


NONSENSE = {
    "tanh_classifier": (MLPClassifier, dict(output_activation="tanh"), "probabilities"),
    "softmax_multilabel": (MLPClassifier, dict(output_activation="softmax"), "multilabel"),
    "cross_entropy_sigmoid": (MLPClassifier, dict(loss="cross_entropy", output_activation="sigmoid"), "softmax"),
    "bce_softmax": (MLPClassifier, dict(loss="binary_cross_entropy", output_activation="softmax"), "sigmoid"),
    "poisson_sigmoid": (MLPRegressor, dict(loss="poisson", output_activation="sigmoid"), "log link"),
    "exp_squared": (MLPRegressor, dict(output_activation="exp"), "poisson"),
    "cross_entropy_identity": (MLPRegressor, dict(loss="cross_entropy", output_activation="identity"), "sum to 1"),
    "dropout_lbfgs": (MLPRegressor, dict(solver="lbfgs", dropout=0.2), "L-BFGS"),
    "activation_count": (MLPRegressor, dict(activation=["relu"]), "one activation per hidden layer"),
    "unknown_activation": (MLPRegressor, dict(activation=["relu", "swish"]), "swish"),
}


@pytest.mark.parametrize("case", list(NONSENSE))
def test_nonsensical_options_raise_config_errors(case):
    cls, options, words = NONSENSE[case]
    x, y = _classification(3, n=30)
    if case == "softmax_multilabel":
        x, y = make_multilabel_classification(30, 5, n_classes=3, random_state=0)
    with pytest.raises(ConfigError, match=words):
        cls(**dict(SMALL, **options)).fit(x, y)


def test_mazur_step_through_the_estimator_and_its_model_in_the_learner_tools():
    """Mazur's worked example: one step of eta = 0.5 from his weights gives his published w+."""
    from chainrule.learn import trace

    x, target = np.array([[0.05, 0.10]]), np.array([[0.01, 0.99]])
    est = MLPRegressor(hidden_layer_sizes=(2,), activation="logistic", output_activation="sigmoid",
                       loss="half_squared_error", solver="sgd", momentum=0.0, learning_rate_init=0.5, alpha=0.0,
                       shuffle=False, random_state=0).partial_fit(x, target)
    est.coefs_ = [np.array([[0.15, 0.25], [0.20, 0.30]]), np.array([[0.40, 0.50], [0.45, 0.55]])]
    est.intercepts_ = [np.array([0.35, 0.35]), np.array([0.60, 0.60])]
    traced = trace(est.model_, x, target, lr=0.5).values
    est.partial_fit(x, target)
    published = {"w1": 0.149780716, "w2": 0.19956143, "w3": 0.24975114, "w4": 0.29950229,
                 "w5": 0.35891648, "w6": 0.408666186, "w7": 0.511301270, "w8": 0.561370121}
    ours = dict(zip(["w1", "w3", "w2", "w4"], est.coefs_[0].ravel())) | \
        dict(zip(["w5", "w7", "w6", "w8"], est.coefs_[1].ravel()))
    for name, value in published.items():
        assert ours[name] == pytest.approx(value, abs=5e-9), name
        assert traced[f"{name}_new"] == pytest.approx(value, abs=5e-9), name
    assert est.loss_ == pytest.approx(0.298371109, abs=1e-9)  # E_total before the step


@pytest.mark.parametrize("variant", ["adaptive", "early_adaptive", "tol_stop"])
def test_verbose_prints_what_sklearn_prints(variant, capsys):
    x, y = _classification(2, n=80)
    params = dict(SMALL, solver="sgd", learning_rate_init=0.05, verbose=True)
    params.update(SGD_VARIANTS[variant])
    with np.errstate(under="ignore"):
        sk.MLPClassifier(**params).fit(x, y)
    theirs = capsys.readouterr().out
    MLPClassifier(**params).fit(x, y)
    assert capsys.readouterr().out == theirs
