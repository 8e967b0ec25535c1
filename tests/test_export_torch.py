"""to_torch / from_torch, checked against PyTorch's own forward pass in float64 and by round trips."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.errors import ConfigError
from chainrule.export import from_torch, to_torch

torch = pytest.importorskip("torch")

ACTIVATIONS = [
    ("identity", {}), ("sigmoid", {}), ("tanh", {}), ("relu", {}), ("leaky_relu", {"alpha": 0.2}), ("elu", {}),
    ("elu", {"alpha": 0.5}), ("softplus", {}), ("gelu", {}), ("gelu", {"approximate": "tanh"}), ("softmax", {}),
    ("log_softmax", {}),
]

ACTIVATION_IDS = [name + "".join(f"-{k}={v}" for k, v in attrs.items()) for name, attrs in ACTIVATIONS]


def test_every_registered_activation_is_covered():
    assert {name for name, _ in ACTIVATIONS} == set(cr.ops.ACTIVATIONS)


def random_net(rng, depth, name, attrs, dtype=np.float64):
    sizes = [int(n) for n in rng.integers(1, 9, depth + 1)]
    net = cr.MLP(sizes, activation=[cr.Activation(name, **attrs)] * (depth - 1),
                 output_activation=cr.Activation(name, **attrs), seed=rng, dtype=dtype,
                 dropout=[0.25] * (depth - 1))
    for p in net.parameters():
        p.data += rng.normal(0, 0.3, p.shape).astype(dtype)
    return net.eval()


@pytest.mark.parametrize(("name", "attrs"), ACTIVATIONS, ids=ACTIVATION_IDS)
def test_torch_forward_matches_in_float64_and_round_trip_is_exact(name, attrs):
    rng = np.random.default_rng([5, len(name), int(10 * attrs.get("alpha", 0))])
    for depth in range(1, 7):
        net = random_net(rng, depth, name, attrs)
        x = rng.normal(0, 2, (32, net.sizes[0]))
        module = to_torch(net)
        assert not module.training
        with torch.no_grad():
            out = module(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(out, net(x).data, rtol=1e-12, atol=1e-12)
        # torch's Linear weight is (n_out, n_in): ours transposed
        first = net.layers()[0][0]
        np.testing.assert_array_equal(module[0].weight.detach().numpy(), first.weight.data.T)
        back = from_torch(module)
        assert back.state_dict().keys() == net.state_dict().keys()
        for key, value in net.state_dict().items():
            np.testing.assert_array_equal(back.state_dict()[key], value)
        np.testing.assert_array_equal(back(x).data, net(x).data)


def test_to_torch_leaves_torchs_random_generator_alone():
    torch.manual_seed(3)
    expected = torch.rand(3)
    torch.manual_seed(3)
    to_torch(cr.MLP([4, 8, 2], seed=0))
    assert torch.equal(torch.rand(3), expected)


def test_softplus_matches_far_past_torchs_default_threshold():
    net = cr.Sequential(cr.Softplus())
    x = np.linspace(-60, 60, 241).reshape(-1, 1)
    with torch.no_grad():
        out = to_torch(net)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(out, net(x).data, rtol=1e-15, atol=1e-300)


def test_from_torch_reads_a_hand_built_module_with_nesting_and_float32():
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Linear(3, 5), torch.nn.Sequential(torch.nn.GELU(), torch.nn.Linear(5, 4, bias=False)),
        torch.nn.LeakyReLU(0.1), torch.nn.Dropout(0.2), torch.nn.Linear(4, 2), torch.nn.Softmax(dim=1),
    ).eval()
    net = from_torch(module)
    assert [type(m).__name__ for m in net] == ["Linear", "GELU", "Linear", "LeakyReLU", "Dropout", "Linear",
                                              "Softmax"]
    assert net.layers()[1][0].bias is None and not net.training
    assert net[0].weight.dtype == np.float32 and net[0].weight.shape == (3, 5)
    x = np.random.default_rng(1).normal(size=(16, 3)).astype(np.float32)
    with torch.no_grad():
        expected = module(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(net(x).data, expected, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        expected64 = module.double()(torch.from_numpy(x.astype(np.float64))).numpy()
    np.testing.assert_allclose(from_torch(module)(x.astype(np.float64)).data, expected64, rtol=1e-12, atol=1e-12)


def test_estimator_exports_its_network():
    pytest.importorskip("sklearn")
    from chainrule.sklearn import MLPClassifier

    rng = np.random.default_rng(2)
    x = rng.normal(size=(60, 4))
    y = (x[:, 0] + x[:, 1] > 0).astype(int) + (x[:, 2] > 1)
    clf = MLPClassifier((6,), solver="lbfgs", max_iter=30, random_state=0).fit(x, y)
    with torch.no_grad():
        proba = to_torch(clf)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(proba, clf.predict_proba(x), rtol=1e-12, atol=1e-12)
    with pytest.raises(ConfigError, match="not fitted"):
        to_torch(MLPClassifier())


def test_unsupported_modules_are_named():
    with pytest.raises(ConfigError, match=r"module 1 is torch.nn.modules.conv.Conv1d.*from_torch supports "
                                          r"nn.Sequential, nn.Linear"):
        from_torch(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Conv1d(1, 1, 1)))
    with pytest.raises(ConfigError, match="beta=1"):
        from_torch(torch.nn.Softplus(beta=2))
    with pytest.raises(ConfigError, match=r"float16 weights.*\.float\(\) or \.double\(\)"):
        from_torch(torch.nn.Linear(2, 2).half())
    with pytest.raises(ConfigError, match="expects a torch.nn.Module"):
        from_torch(cr.MLP([2, 2]))
    swish = cr.FunctionActivation(lambda net: net * cr.functional.sigmoid(net), name="swish")
    with pytest.raises(ConfigError, match="FunctionActivation 'swish'"):
        to_torch(cr.MLP([2, 3, 1], activation=swish))


def test_missing_torch_says_what_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_torch(name, *args, **kwargs):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("No module named 'torch'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    with pytest.raises(ImportError, match="to_torch needs PyTorch: pip install torch"):
        to_torch(cr.MLP([2, 2]))
