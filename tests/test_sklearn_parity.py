"""The estimators' public and solver state against scikit-learn's: set by hand, read back, continued.

scikit-learn's users start a network from known weights by setting ``coefs_``,
``intercepts_`` and the other fitted attributes by hand and calling ``partial_fit``;
they read ``_optimizer.learning_rate`` after an adaptive schedule and check gradients
with ``_loss_grad_lbfgs``. Each test does that with ours and with
``sklearn.neural_network`` in float64 and asks for the same numbers to 1e-12.
"""

from __future__ import annotations

import math
import pickle
import re
import warnings

import joblib
import numpy as np
import pytest
from sklearn import neural_network as sk
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import LabelBinarizer

from chainrule.errors import DataError
from chainrule.sklearn import MLPClassifier, MLPRegressor, SklearnAdam, SklearnSGD

TOL = 1e-12

pytestmark = [
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
    pytest.mark.filterwarnings("ignore:Got `batch_size` less than 1 or larger than sample size"),
]


def _close(ours, ref, tol=TOL):
    ours, ref = list(ours), list(ref)
    assert len(ours) == len(ref)
    for a, b in zip(ours, ref):
        np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=0, atol=tol)


def _same_weights(ours, ref, tol=TOL):
    _close(ours.coefs_ + ours.intercepts_, ref.coefs_ + ref.intercepts_, tol)


# ------------------------------------------------------------------ the worked example
def _set_by_hand(mlp):
    """scikit-learn's way to start from known weights: a 3-2-1 network's attributes, one by one."""
    mlp.coefs_ = [0] * 2
    mlp.intercepts_ = [0] * 2
    mlp.coefs_[0] = np.array([[0.1, 0.2], [0.3, 0.1], [0.5, 0.0]])
    mlp.coefs_[1] = np.array([[0.1], [0.2]])
    mlp.intercepts_[0] = np.array([0.1, 0.1])
    mlp.intercepts_[1] = np.array([1.0])
    mlp.n_outputs_ = 1
    mlp.n_features_in_ = 3
    mlp.n_iter_ = 0
    mlp.n_layers_ = 3
    mlp.out_activation_ = "logistic"
    mlp.t_ = 0
    mlp.best_loss_ = np.inf
    mlp.loss_curve_ = []
    mlp._no_improvement_count = 0
    return mlp


def _sigmoid(net):
    return 1 / (1 + math.exp(-net))


def test_one_sgd_step_from_hand_set_weights_is_the_delta_rule_worked_by_hand():
    params = dict(solver="sgd", learning_rate_init=0.1, alpha=0.1, activation="logistic", random_state=1,
                  max_iter=1, hidden_layer_sizes=2, momentum=0)
    x, target, eta, alpha = [0.6, 0.8, 0.7], 0.0, 0.1, 0.1
    ours = _set_by_hand(MLPClassifier(**params)).partial_fit(np.array([x]), [0], classes=[0, 1])
    ref = _set_by_hand(sk.MLPClassifier(**params)).partial_fit(np.array([x]), [0], classes=[0, 1])

    # By hand, neuron by neuron: w1[i][j] from input i to hidden j, w2[j] from hidden j to the output.
    w1 = [[0.1, 0.2], [0.3, 0.1], [0.5, 0.0]]
    b1, w2, b2 = [0.1, 0.1], [0.1, 0.2], 1.0
    net_h = [sum(x[i] * w1[i][j] for i in range(3)) + b1[j] for j in range(2)]  # 0.75, 0.30
    out_h = [_sigmoid(n) for n in net_h]
    out_o = _sigmoid(sum(out_h[j] * w2[j] for j in range(2)) + b2)
    # logistic output with the log loss: delta_o = out_o - target; the penalty adds alpha w / n (n = 1)
    delta_o = out_o - target
    delta_h = [delta_o * w2[j] * out_h[j] * (1 - out_h[j]) for j in range(2)]
    new_w2 = [w2[j] - eta * (out_h[j] * delta_o + alpha * w2[j]) for j in range(2)]
    new_b2 = b2 - eta * delta_o
    new_w1 = [[w1[i][j] - eta * (x[i] * delta_h[j] + alpha * w1[i][j]) for j in range(2)] for i in range(3)]
    new_b1 = [b1[j] - eta * delta_h[j] for j in range(2)]
    # E = -log(1 - out_o) + alpha / 2 sum w^2, before the step
    loss = -math.log(1 - out_o) + alpha / 2 * (sum(v * v for row in w1 for v in row) + sum(v * v for v in w2))

    _close(ours.coefs_ + ours.intercepts_, [new_w1, [[v] for v in new_w2], new_b1, [new_b2]])
    assert ours.loss_ == pytest.approx(loss, abs=TOL)
    _same_weights(ours, ref)
    assert (ours.t_, ours.n_iter_, ours.loss_curve_) == (ref.t_, ref.n_iter_, pytest.approx(ref.loss_curve_))
    assert ours.coefs_[0] is ours.model_[0].weight.data  # the network trained the arrays the user set


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_partial_fit_and_warm_start_continue_from_attributes_set_by_hand(solver, kind):
    rng = np.random.RandomState(0)
    if kind == "classifier":
        x, y = make_classification(40, 4, n_informative=3, n_redundant=0, n_classes=3, random_state=0)
        cls, ref_cls, extra = MLPClassifier, sk.MLPClassifier, dict(classes=[0, 1, 2])
        n_out, out_activation = 3, "softmax"
    else:
        x, y = make_regression(40, 4, noise=0.1, random_state=0)
        y = y / 100
        cls, ref_cls, extra, n_out, out_activation = MLPRegressor, sk.MLPRegressor, {}, 1, "identity"
    sizes = [4, 5, 3, n_out]
    coefs = [rng.uniform(-0.5, 0.5, (a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    intercepts = [rng.uniform(-0.5, 0.5, b) for b in sizes[1:]]
    params = dict(hidden_layer_sizes=(5, 3), activation="tanh", solver=solver, learning_rate_init=0.05,
                  batch_size=8, random_state=2, max_iter=3, warm_start=True)
    models = []
    for make in (cls, ref_cls):
        est = make(**params)
        est.coefs_ = [c.copy() for c in coefs]
        est.intercepts_ = [b.copy() for b in intercepts]
        est.n_layers_, est.n_outputs_, est.out_activation_ = 4, n_out, out_activation
        est.n_features_in_, est.t_, est.n_iter_ = 4, 0, 0
        if solver != "lbfgs":
            est.loss_curve_, est.best_loss_, est._no_improvement_count = [], np.inf, 0
            est.partial_fit(x, y, **extra)
            est.partial_fit(x, y)
        elif kind == "classifier":
            est.classes_ = np.array([0, 1, 2])  # warm_start checks the labels against these
            est._label_binarizer = LabelBinarizer().fit(y)
        est.fit(x, y)  # warm_start: three more epochs (iterations) from where the weights are
        models.append(est)
    ours, ref = models
    _same_weights(ours, ref, 1e-10 if solver == "lbfgs" else TOL)
    assert (ours.t_, ours.n_iter_, ours.loss_) == (ref.t_, ref.n_iter_, pytest.approx(ref.loss_, abs=1e-10))
    if solver != "lbfgs":
        _close(ours.loss_curve_, ref.loss_curve_)
        assert ours.best_loss_ == pytest.approx(ref.best_loss_, abs=TOL)


def test_replacing_an_array_after_fit_changes_what_predict_uses():
    x, y = make_classification(30, 4, random_state=0)
    params = dict(hidden_layer_sizes=(3,), solver="lbfgs", random_state=0, max_iter=5)
    ours, ref = MLPClassifier(**params).fit(x, y), sk.MLPClassifier(**params).fit(x, y)
    for est in (ours, ref):
        est.coefs_[0] = np.full((4, 3), 0.3)
        est.intercepts_[1] = est.intercepts_[1] + 1.0
        est.activation = "tanh"  # scikit-learn reads the hidden activation at every prediction
    _close([ours.predict_proba(x)], [ref.predict_proba(x)], 1e-10)


# ------------------------------------------------------------------ solver state under scikit-learn's names
@pytest.mark.parametrize("early_stopping", [False, True])
def test_adaptive_learning_rate_and_warm_start_read_as_in_sklearn(early_stopping):
    x, y = make_classification(80, 5, random_state=1)
    params = dict(hidden_layer_sizes=(6,), solver="sgd", learning_rate="adaptive", learning_rate_init=0.2,
                  tol=0.5, n_iter_no_change=2, max_iter=8, random_state=0, warm_start=True,
                  early_stopping=early_stopping)
    ours, ref = MLPClassifier(**params), sk.MLPClassifier(**params)
    for _ in range(2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            ours.fit(x, y)
            ref.fit(x, y)
        assert isinstance(ours._optimizer, SklearnSGD)
        assert ours._optimizer.learning_rate == pytest.approx(ref._optimizer.learning_rate, rel=1e-12)
        assert ours._optimizer.learning_rate < params["learning_rate_init"]  # divided by 5 at least once
        assert ours._no_improvement_count == ref._no_improvement_count
        _close(ours._optimizer.velocities, ref._optimizer.velocities)
        _same_weights(ours, ref)
    if not early_stopping:
        ours._optimizer.learning_rate = ref._optimizer.learning_rate = 0.01  # set by hand, then one more epoch
        ours.partial_fit(x, y)
        ref.partial_fit(x, y)
        _same_weights(ours, ref)


def test_invscaling_and_adam_state_read_as_in_sklearn():
    x, y = make_regression(50, 3, random_state=0)
    y = y / 100
    for params in (dict(solver="sgd", learning_rate="invscaling", power_t=0.4, learning_rate_init=0.05),
                   dict(solver="adam", learning_rate_init=0.01, beta_1=0.8)):
        params.update(hidden_layer_sizes=(4,), max_iter=4, batch_size=16, random_state=0)
        ours, ref = MLPRegressor(**params), sk.MLPRegressor(**params)
        for est in (ours, ref):
            est.partial_fit(x, y)
            est.partial_fit(x, y)
        opt, ref_opt = ours._optimizer, ref._optimizer
        assert opt.learning_rate == pytest.approx(ref_opt.learning_rate, rel=1e-12)
        assert opt.learning_rate_init == ref_opt.learning_rate_init
        if params["solver"] == "adam":
            assert isinstance(opt, SklearnAdam) and opt.t == ref_opt.t == 8
            assert (opt.beta_1, opt.beta_2, opt.epsilon) == (ref_opt.beta_1, ref_opt.beta_2, ref_opt.epsilon)
            _close(opt.ms + opt.vs, ref_opt.ms + ref_opt.vs)
        else:
            assert (opt.lr_schedule, opt.power_t, opt.momentum, opt.nesterov) == \
                (ref_opt.lr_schedule, ref_opt.power_t, ref_opt.momentum, ref_opt.nesterov)
        _same_weights(ours, ref)


def _pair_with_same_weights(kind, **params):
    """Ours fitted briefly, and scikit-learn's given our weights by hand: the same network twice."""
    if kind == "poisson":
        x, y = make_regression(30, 4, random_state=0)
        y = np.random.RandomState(0).poisson(np.exp(x[:, 0] / 3))
        ours = MLPRegressor(loss="poisson", **params).fit(x, y)
        ref = sk.MLPRegressor(loss="poisson", **params).fit(x, y)
        target = y.reshape(-1, 1).astype(float)
    elif kind == "regressor":
        x, y = make_regression(30, 4, n_targets=2, random_state=0)
        ours, ref = MLPRegressor(**params).fit(x, y / 100), sk.MLPRegressor(**params).fit(x, y / 100)
        target = y / 100
    else:
        n_classes = 2 if kind == "binary" else 3
        x, y = make_classification(30, 4, n_informative=3, n_redundant=0, n_classes=n_classes, random_state=0)
        ours, ref = MLPClassifier(**params).fit(x, y), sk.MLPClassifier(**params).fit(x, y)
        target = LabelBinarizer().fit_transform(y).astype(float)
    ref.coefs_ = [c.copy() for c in ours.coefs_]
    ref.intercepts_ = [b.copy() for b in ours.intercepts_]
    return ours, ref, x, target


def _buffers(est, x):
    n = est.n_layers_
    return [x] + [None] * (n - 1), [None] * (n - 1), [None] * (n - 1), [None] * (n - 1)


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regressor", "poisson"])
@pytest.mark.parametrize("weighted", [False, True])
def test_forward_pass_backprop_and_loss_grad_lbfgs_give_sklearns_values(kind, weighted):
    params = dict(hidden_layer_sizes=(5, 3), activation="logistic", solver="lbfgs", alpha=0.3, max_iter=2,
                  random_state=0)
    ours, ref, x, target = _pair_with_same_weights(kind, **params)
    weight = np.random.RandomState(1).uniform(0.5, 2, len(x)) if weighted else None
    results = []
    for est in (ours, ref):
        activations, deltas, coef_grads, intercept_grads = _buffers(est, x)
        forward = [a.copy() for a in est._forward_pass(list(activations))[1:]]
        loss, coef_grads, intercept_grads = est._backprop(x, target, weight, activations, deltas, coef_grads,
                                                          intercept_grads)
        packed = np.hstack([a.ravel() for a in est.coefs_ + est.intercepts_])
        lbfgs_loss, grad = est._loss_grad_lbfgs(packed, x, target, weight, *_buffers(est, x))
        results.append((forward, activations[1:], deltas, coef_grads + intercept_grads, loss, lbfgs_loss, grad))
    for mine, theirs in zip(*results):
        if isinstance(mine, float):
            assert mine == pytest.approx(theirs, abs=TOL)
        else:
            _close(mine if isinstance(mine, list) else [mine], theirs if isinstance(theirs, list) else [theirs])


def test_compute_loss_grad_and_init_coef_give_sklearns_values():
    ours, ref, x, target = _pair_with_same_weights("multiclass", hidden_layer_sizes=(4,), activation="logistic",
                                                   solver="lbfgs", alpha=0.2, max_iter=1, random_state=0)
    results = []
    for est in (ours, ref):
        activations, deltas, coef_grads, intercept_grads = _buffers(est, x)
        est._backprop(x, target, None, activations, deltas, coef_grads, intercept_grads)
        mine_w, mine_b = [None, None], [None, None]
        for layer in (0, 1):
            est._compute_loss_grad(layer, len(x), activations, deltas, mine_w, mine_b)
        est._random_state = np.random.RandomState(5)
        results.append(mine_w + mine_b + coef_grads + intercept_grads + list(est._init_coef(3, 2, np.float64)))
    _close(*results)


def test_every_sklearn_method_is_there_with_its_parameters():
    import inspect

    for ours_cls, ref_cls in ((MLPClassifier, sk.MLPClassifier), (MLPRegressor, sk.MLPRegressor)):
        for name, method in inspect.getmembers(ref_cls, callable):
            if name.startswith("__") or name == "partial_fit":  # partial_fit: scikit-learn's descriptor
                continue
            ref_params = list(inspect.signature(method).parameters)
            ours_params = list(inspect.signature(getattr(ours_cls, name)).parameters)
            assert ours_params[:len(ref_params)] == ref_params, name
        ours_partial, ref_partial = ours_cls(solver="sgd").partial_fit, ref_cls(solver="sgd").partial_fit
        assert list(inspect.signature(ours_partial).parameters) == list(inspect.signature(ref_partial).parameters)


def test_loss_grad_lbfgs_agrees_with_finite_differences():
    ours, _, x, target = _pair_with_same_weights("multiclass", hidden_layer_sizes=(4,), activation="tanh",
                                                 solver="lbfgs", alpha=0.1, max_iter=1, random_state=0)
    theta = np.hstack([a.ravel() for a in ours.coefs_ + ours.intercepts_]).copy()
    _, grad = ours._loss_grad_lbfgs(theta.copy(), x, target, None, *_buffers(ours, x))
    numeric = np.empty_like(theta)
    for i in range(theta.size):
        step = np.zeros_like(theta)
        step[i] = 1e-5
        plus = ours._loss_grad_lbfgs(theta + step, x, target, None, *_buffers(ours, x))[0]
        minus = ours._loss_grad_lbfgs(theta - step, x, target, None, *_buffers(ours, x))[0]
        numeric[i] = (plus - minus) / 2e-5
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


# ------------------------------------------------------------------ the attributes and parameters themselves
def _documented_attributes(cls):
    section = cls.__doc__.split("Attributes\n    ----------\n")[1].split("\n\n    See Also")[0]
    return re.findall(r"^    (\w+) :", section, flags=re.MULTILINE)


@pytest.mark.parametrize("ours_cls, ref_cls", [(MLPClassifier, sk.MLPClassifier), (MLPRegressor, sk.MLPRegressor)])
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_every_documented_attribute_and_parameter_is_there(ours_cls, ref_cls, solver):
    documented = _documented_attributes(ref_cls)
    assert {"coefs_", "intercepts_", "n_layers_", "out_activation_", "loss_curve_", "t_"} <= set(documented)
    ref_params, our_params = ref_cls().get_params(), ours_cls().get_params()
    assert {k: v for k, v in our_params.items() if k in ref_params} == ref_params
    if ours_cls is MLPClassifier:
        x, y = make_classification(30, 4, random_state=0)
    else:
        x, y = make_regression(30, 4, random_state=0)
        y = y / 100
    params = dict(hidden_layer_sizes=(3,), solver=solver, max_iter=3, random_state=0)
    ours, ref = ours_cls(**params).fit(x, y), ref_cls(**params).fit(x, y)
    for name in documented:
        # feature_names_in_ exists only for data frames with string column names (validate_data, which both call)
        assert hasattr(ours, name) == hasattr(ref, name) or name == "feature_names_in_", name
        if hasattr(ref, name) and name not in ("coefs_", "intercepts_", "classes_"):
            mine, theirs = getattr(ours, name), getattr(ref, name)
            if isinstance(theirs, (float, np.floating)):
                assert mine == pytest.approx(theirs, abs=1e-10), name
            elif isinstance(theirs, list):
                _close(mine, theirs, 1e-10)
            else:
                assert mine == theirs, name
    _same_weights(ours, ref, 1e-10)
    if ours_cls is MLPClassifier:
        np.testing.assert_array_equal(ours.classes_, ref.classes_)


def test_weights_a_callback_loads_at_the_end_are_the_fitted_coefs():
    from chainrule.callbacks import Callback

    class LoadHalf(Callback):  # what EarlyStopping(restore_best=True) does, with weights known here
        def on_train_begin(self, state):
            self.model = state.model

        def on_train_end(self, logs):
            self.model.load_state_dict({k: v / 2 for k, v in self.model.state_dict().items()})

    x, y = make_classification(60, 4, random_state=0)
    plain = MLPClassifier((5,), solver="sgd", max_iter=3, random_state=0).fit(x, y)
    halved = MLPClassifier((5,), solver="sgd", max_iter=3, random_state=0, callbacks=[LoadHalf()]).fit(x, y)
    _close(halved.coefs_ + halved.intercepts_, [a / 2 for a in plain.coefs_ + plain.intercepts_], 1e-15)
    np.testing.assert_array_equal(halved.predict_proba(x)[:, 1], halved.model_(x).data.ravel())


def test_early_stopping_error_names_the_label_as_given():
    x = np.random.RandomState(0).rand(20, 3)
    for labels, shown in ((np.array([False] * 19 + [True]), "[True]"), (np.array(["ham"] * 19 + ["spam"]),
                                                                          "['spam']")):
        with pytest.raises(DataError, match=re.escape(f"Classes with too few members are: {shown}")):
            MLPClassifier(early_stopping=True, max_iter=2).fit(x, labels)


def test_pickle_and_joblib_keep_the_solver_state(tmp_path):
    x, y = make_classification(40, 4, random_state=0)
    est = MLPClassifier(hidden_layer_sizes=(5,), solver="sgd", learning_rate="adaptive", tol=0.5,
                        n_iter_no_change=1, learning_rate_init=0.1, max_iter=4, random_state=0).fit(x, y)
    joblib.dump(est, tmp_path / "est.joblib")
    copies = [pickle.loads(pickle.dumps(est)), joblib.load(tmp_path / "est.joblib")]
    for copy in copies:
        np.testing.assert_array_equal(copy.predict_proba(x), est.predict_proba(x))
        assert copy._optimizer.learning_rate == est._optimizer.learning_rate
    for copy in [*copies, est]:
        copy.partial_fit(x, y)
    for copy in copies:
        np.testing.assert_array_equal(copy.predict_proba(x), est.predict_proba(x))
        assert copy.coefs_[0] is copy.model_[0].weight.data


@pytest.mark.parametrize("ours_cls, ref_cls", [(MLPClassifier, sk.MLPClassifier), (MLPRegressor, sk.MLPRegressor)])
def test_feature_names_in_from_a_dataframe_as_scikit_learn(ours_cls, ref_cls):
    pd = pytest.importorskip("pandas")
    x, y = make_classification(n_samples=40, n_features=3, n_informative=2, n_redundant=0, random_state=0)
    frame = pd.DataFrame(x, columns=["height", "width", "depth"])
    params = dict(hidden_layer_sizes=(4,), max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours, ref = ours_cls(**params).fit(frame, y), ref_cls(**params).fit(frame, y)
    np.testing.assert_array_equal(ours.feature_names_in_, ref.feature_names_in_)
    assert ours.n_features_in_ == ref.n_features_in_ == 3
    with pytest.warns(UserWarning, match="feature names"):  # fitted with names, given none: as scikit-learn warns
        ours.predict(x)
    renamed = frame.rename(columns={"depth": "length"})
    with pytest.raises(ValueError, match="feature names"):
        ref.predict(renamed)
    with pytest.raises(ValueError, match="feature names"):
        ours.predict(renamed)
    assert not hasattr(ours_cls(**params).fit(x, y), "feature_names_in_")
