"""trace, explain and check refuse an output activation and a loss that do not belong together.

The refusal is chainrule.losses.check_pair's, the one table ``chainrule.fit`` uses: the
message must be the very one fit gives for the same network and loss. Before it, ``trace``
printed cross-entropy of a linear output as ``-1*log(0) = 36.04`` or ``log(-0.10)``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule.cli import main
from chainrule.errors import ConfigError
from chainrule.learn import check, check_rule, explain, gradient_descent, trace

X, TARGET = np.array([0.3, -0.2]), np.array([0.0, 1.0])
PAIRS = [(None, "cross_entropy"), ("tanh", "cross_entropy"), ("identity", "binary_cross_entropy"),
         ("tanh", "binary_cross_entropy"), ("softmax", "binary_cross_entropy")]


def _net(output):
    return cr.MLP([2, 3, 2], activation="sigmoid", output_activation=output, seed=1)


def _fit_message(output, loss):
    with pytest.raises(ConfigError) as fitted:
        cr.fit(_net(output), X[None, :], TARGET[None, :], loss=loss, epochs=1)
    return str(fitted.value)


CALLS = {
    "trace": lambda net, loss, **kw: trace(net, X, TARGET, loss=loss, **kw),
    "explain": lambda net, loss, **kw: explain(net, "w1", X, TARGET, loss=loss, **kw),
    "check": lambda net, loss, **kw: check(net, "w1", "delta_h1*i1", X, TARGET, loss=loss, **kw),
    "check_rule": lambda net, loss, **kw: check_rule(net, "dE/dw_ij^(l)", "delta_j^(l)*x_i^(l-1)", X, TARGET,
                                                     loss=loss, **kw),
    "gradient_descent": lambda net, loss, **kw: gradient_descent(net, X, TARGET, loss=loss, **kw),
}


@pytest.mark.parametrize("output, loss", PAIRS)
@pytest.mark.parametrize("tool", sorted(CALLS))
def test_a_nonsensical_pair_is_refused_with_fits_message(tool, output, loss):
    with pytest.raises(ConfigError) as refused:
        CALLS[tool](_net(output), loss)
    assert str(refused.value) == _fit_message(output, loss)


def test_allow_mismatch_goes_on_with_a_warning_and_the_right_pairs_pass_silently():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        traced = trace(_net("tanh"), X, TARGET, loss="binary_cross_entropy", allow_mismatch=True)
    assert any(issubclass(w.category, RuntimeWarning) and "binary_cross_entropy" in str(w.message) for w in caught)
    assert np.isfinite(traced.errors).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for output, loss in [("softmax", "cross_entropy"), ("sigmoid", "binary_cross_entropy"),
                             (None, "half_squared_error"), ("tanh", "squared_error")]:
            assert trace(_net(output), X, TARGET, loss=loss).errors.shape == (2,)
            assert check(_net(output), "w1", "delta_h1*i1", X, TARGET, loss=loss).holds


@pytest.mark.parametrize("command", [["trace"], ["explain", "w1"], ["check", "w1", "delta_h1*i1"]])
def test_the_command_line_refuses_in_one_line_and_allow_mismatch_goes_on(capsys, command):
    flags = ["--layers", "2,3,2", "--output-activation", "tanh", "--x", "0.3,-0.2", "--target", "0,1",
             "--loss", "binary_cross_entropy"]
    assert main(command + flags) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1 and "binary_cross_entropy" in err
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        code = main(command + flags + ["--allow-mismatch"])
    out, _ = capsys.readouterr()
    assert code in (0, 1) and out
