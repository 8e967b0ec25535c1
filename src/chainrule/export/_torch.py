"""A chainrule network as a ``torch.nn.Sequential``, and back.

chainrule's layer computes net = x @ W + b with W of shape (n_in, n_out), so W[i, j] is
w_ij from neuron i to neuron j; ``torch.nn.Linear`` computes x @ weight.T + bias with
weight of shape (n_out, n_in). So ``torch weight = W.T`` and ``W = torch weight.T``; biases
are the same vectors. Modules map one to one, so positions, and the state_dict names
(``"0.weight"``, ``"0.bias"``, ``"2.weight"``, ...), are the same on both sides.

==================  =====================================================
chainrule           PyTorch
==================  =====================================================
Linear              nn.Linear (weight transposed)
Identity            nn.Identity
Sigmoid, Tanh, ReLU nn.Sigmoid, nn.Tanh, nn.ReLU
LeakyReLU(alpha)    nn.LeakyReLU(negative_slope=alpha)
ELU(alpha)          nn.ELU(alpha)
Softplus            nn.Softplus(beta=1, threshold=40)
GELU(approximate)   nn.GELU(approximate)
Softmax(axis)       nn.Softmax(dim=axis)
LogSoftmax(axis)    nn.LogSoftmax(dim=axis)
Dropout(p)          nn.Dropout(p)
==================  =====================================================

PyTorch's Softplus returns x itself above its ``threshold`` (20 by default), where
log(1 + e^x) differs from x by less than e^-x; the exported module uses threshold 40,
beyond which that difference (< 5e-18) is below float64's rounding, so both libraries give the
same numbers everywhere. A module read back with any threshold becomes chainrule's exact softplus.

PyTorch is imported only inside these functions; it is not a dependency of chainrule.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from chainrule.errors import ConfigError
from chainrule.export._layers import (
    SUPPORTED,
    ActivationStep,
    DropoutStep,
    LinearStep,
    describe,
    estimator_parts,
    is_chainrule_estimator,
    network_steps,
)
from chainrule.nn import (
    ELU,
    GELU,
    Dropout,
    Identity,
    LeakyReLU,
    Linear,
    LogSoftmax,
    Module,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
)

__all__ = ["to_torch", "from_torch", "SOFTPLUS_THRESHOLD"]

#: The threshold of the exported nn.Softplus: above it log(1 + e^x) - x < e^-40, below float64's rounding.
SOFTPLUS_THRESHOLD = 40.0


def _require_torch(feature: str) -> Any:
    try:
        import torch
    except ImportError as error:
        raise ImportError(f"{feature} needs PyTorch: pip install torch (chainrule does not depend on it)") from error
    return torch


def to_torch(model: Any) -> Any:
    """The network as a ``torch.nn.Sequential`` with the same weights, dtype and forward pass.

    Parameters
    ----------
    model : chainrule Module or fitted chainrule.sklearn estimator
        A ``Sequential``/``MLP`` of ``Linear``, registered activations and ``Dropout``
        (nested containers are flattened), or an estimator, whose network ``model_`` is
        exported: a classifier's outputs are its probabilities (before the binary
        [1 - p, p] and one-vs-rest normalisation); with ``loss="poisson"`` the output is
        log(rate).

    Returns
    -------
    torch.nn.Sequential
        Module i is the i-th step; ``Linear`` weights are W.T, shape (n_out, n_in). It is in
        ``eval()`` mode when the chainrule model was (dropout off).

    Raises
    ------
    ImportError
        Without PyTorch.
    ConfigError
        For a module PyTorch's built-in layers cannot express (a FunctionActivation), or
        an unfitted estimator.
    """
    torch = _require_torch("to_torch")
    training = True
    if is_chainrule_estimator(model):
        model, _ = estimator_parts(model)
        training = False
    elif isinstance(model, Module):
        training = model.training
    nn = torch.nn
    layers = []
    for step in network_steps(model):
        if isinstance(step, LinearStep):
            n_in, n_out = step.weight.shape
            dtype = torch.float32 if step.weight.dtype == np.float32 else torch.float64
            # skip_init: no random initial weights, so torch's global generator is left as it was
            linear = torch.nn.utils.skip_init(nn.Linear, n_in, n_out, bias=step.bias is not None, dtype=dtype)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(step.weight.T)))
                if step.bias is not None:
                    linear.bias.copy_(torch.from_numpy(np.array(step.bias)))
            layers.append(linear)
        elif isinstance(step, DropoutStep):
            layers.append(nn.Dropout(step.p))
        else:
            layers.append(_torch_activation(nn, step))
    sequential = nn.Sequential(*layers)
    return sequential.train(training)


def _torch_activation(nn: Any, step: ActivationStep) -> Any:
    a = step.attrs
    simple = {"identity": nn.Identity, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}
    if step.name in simple:
        return simple[step.name]()
    if step.name == "leaky_relu":
        return nn.LeakyReLU(negative_slope=float(a.get("alpha", 0.01)))
    if step.name == "elu":
        return nn.ELU(alpha=float(a.get("alpha", 1.0)))
    if step.name == "softplus":
        return nn.Softplus(beta=1.0, threshold=SOFTPLUS_THRESHOLD)
    if step.name == "gelu":
        return nn.GELU(approximate=str(a.get("approximate", "none")))
    if step.name == "softmax":
        return nn.Softmax(dim=int(a.get("axis", -1)))
    if step.name == "log_softmax":
        return nn.LogSoftmax(dim=int(a.get("axis", -1)))
    raise ConfigError(f"the activation {step.name!r} has no PyTorch module here; to_torch supports {SUPPORTED}")


def from_torch(module: Any) -> Sequential:
    """A chainrule ``Sequential`` from a PyTorch module built of the layers in the table above.

    Parameters
    ----------
    module : torch.nn.Module
        ``nn.Sequential`` (nested ones are flattened), or one ``nn.Linear`` or activation.
        Weights must be float32 or float64 (all the same).

    Returns
    -------
    chainrule.nn.Sequential
        Same forward pass; ``Linear`` weights are the torch weights transposed, (n_in, n_out).
        In ``eval()`` mode when the torch module was.

    Raises
    ------
    ImportError
        Without PyTorch.
    ConfigError
        For a module with no chainrule counterpart (named, with the supported list), a
        Softplus with beta other than 1, or weights of another dtype.
    """
    torch = _require_torch("from_torch")
    if not isinstance(module, torch.nn.Module):
        raise ConfigError(f"from_torch expects a torch.nn.Module (an nn.Sequential of nn.Linear and activations), "
                          f"got {describe(module)}")
    modules: list[Module] = []
    _convert(torch, module, modules, "the module")
    dtypes = {m.weight.dtype for m in modules if isinstance(m, Linear)}
    if len(dtypes) > 1:
        raise ConfigError(f"the Linear layers mix dtypes {sorted(str(d) for d in dtypes)}; convert the module with "
                          ".float() or .double() first")
    return Sequential(*modules).train(module.training)


_TORCH_SUPPORTED = ("nn.Sequential, nn.Linear, nn.Identity, nn.Sigmoid, nn.Tanh, nn.ReLU, nn.LeakyReLU, nn.ELU, "
                    "nn.Softplus (beta=1), nn.GELU, nn.Softmax, nn.LogSoftmax and nn.Dropout")


def _convert(torch: Any, module: Any, out: list[Module], where: str) -> None:
    nn = torch.nn
    if isinstance(module, nn.Sequential):
        for i, child in enumerate(module):
            _convert(torch, child, out, f"{where} > module {i}" if where != "the module" else f"module {i}")
        return
    if isinstance(module, nn.Linear):
        weight = module.weight.detach().cpu()
        if weight.dtype not in (torch.float32, torch.float64):
            raise ConfigError(f"{where} (nn.Linear) holds {weight.dtype} weights; chainrule layers hold float32 or "
                              "float64: convert the module with .float() or .double() first")
        dtype = np.float32 if weight.dtype == torch.float32 else np.float64
        linear = Linear(module.in_features, module.out_features, bias=module.bias is not None, init="zeros",
                        dtype=dtype)
        linear.weight.data = weight.numpy().T.astype(dtype, copy=True)
        if module.bias is not None:
            linear.bias.data = module.bias.detach().cpu().numpy().astype(dtype, copy=True)
        out.append(linear)
        return
    simple = {nn.Identity: Identity, nn.Sigmoid: Sigmoid, nn.Tanh: Tanh, nn.ReLU: ReLU}
    if type(module) in simple:
        out.append(simple[type(module)]())
    elif isinstance(module, nn.LeakyReLU):
        out.append(LeakyReLU(alpha=float(module.negative_slope)))
    elif isinstance(module, nn.ELU):
        out.append(ELU(alpha=float(module.alpha)))
    elif isinstance(module, nn.Softplus):
        if float(module.beta) != 1.0:
            raise ConfigError(f"{where} is nn.Softplus(beta={module.beta}); chainrule's softplus is "
                              "log(1 + exp(net)), beta=1")
        out.append(Softplus())
    elif isinstance(module, nn.GELU):
        out.append(GELU(approximate=str(module.approximate)))
    elif isinstance(module, (nn.Softmax, nn.LogSoftmax)):
        dim = -1 if module.dim is None else int(module.dim)
        out.append(Softmax(axis=dim) if isinstance(module, nn.Softmax) else LogSoftmax(axis=dim))
    elif isinstance(module, nn.Dropout):
        out.append(Dropout(p=float(module.p)))
    else:
        raise ConfigError(f"{where} is {describe(module)}, which has no chainrule counterpart; from_torch "
                          f"supports {_TORCH_SUPPORTED}")
