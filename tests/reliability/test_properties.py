"""Property-based tests: every registered op against finite differences; loaders against garbage.

1. For every op in :data:`chainrule.ops.OPS` (arithmetic, linear algebra, reductions,
   activations, losses) hypothesis draws shapes (broadcasting ones where the op
   broadcasts), attributes and values; the op's registered VJP, run through
   ``Tensor.backward``, must match central differences of its registered forward
   (``torch_reference.assert_matches_finite_differences``). A new op without a
   generator here fails :func:`test_every_registered_op_has_a_generator`.
2. Random bytes and mutated valid files into the IDX reader, the CSV reader and the
   model loader: the only exceptions that may come out are ``chainrule.errors`` ones.
"""

from __future__ import annotations

import gzip
import json
import math
import tempfile
from pathlib import Path

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.datasets import load_csv, read_idx
from chainrule.errors import ChainruleError, DataError, ModelFileError
from chainrule.io import load, load_checkpoint, read_metadata, save, save_checkpoint
from chainrule.ops import OPS
from chainrule.tensor import Tensor
from torch_reference import assert_matches_finite_differences

OP_SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FUZZ_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)
seeds = st.integers(0, 2**32 - 1)


def _values(data, shape, low=-2.0, high=2.0, gap=0.0):
    """Seeded uniform values in [low, high), moved at least ``gap`` away from 0 when asked."""
    x = np.random.default_rng(data.draw(seeds)).uniform(low, high, size=shape)
    return np.where(x >= 0, x + gap, x - gap) if gap else x


def _distinct(data, shape):
    """Values at least 0.05 apart, so a maximum has no tie (where max has no derivative)."""
    n = math.prod(shape)
    order = np.random.default_rng(data.draw(seeds)).permutation(n)
    return (order * 0.1 - n * 0.05).reshape(shape)


def _pair(data, low=-2.0, high=2.0):
    a_shape, b_shape = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=4)).input_shapes
    return a_shape, b_shape


def _axis(data, ndim):
    return data.draw(st.one_of(st.none(), st.integers(-ndim, ndim - 1),
                               st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True)
                               .map(tuple)))


# Each generator returns (inputs, attrs): the arrays the op differentiates, and its keyword attributes.
def _binary(data, gap=0.0):
    a_shape, b_shape = _pair(data)
    return [_values(data, a_shape), _values(data, b_shape, gap=gap)], {}


def _matmul(data):
    n, k, m = (data.draw(st.integers(1, 4)) for _ in range(3))
    form = data.draw(st.sampled_from(["mm", "mv", "vm", "vv", "batched", "broadcast"]))
    a_shape, b_shape = {"mm": ((n, k), (k, m)), "mv": ((n, k), (k,)), "vm": ((k,), (k, m)), "vv": ((k,), (k,)),
                        "batched": ((2, n, k), (2, k, m)), "broadcast": ((3, n, k), (k, m))}[form]
    return [_values(data, a_shape), _values(data, b_shape)], {}


def _transpose(data):
    shape = data.draw(shapes)
    axes = data.draw(st.one_of(st.none(), st.permutations(range(len(shape))).map(tuple)))
    return [_values(data, shape)], {"axes": axes}


def _reshape(data):
    shape = data.draw(shapes)
    target = data.draw(st.sampled_from([(-1,), (1, -1), tuple(reversed(shape)), shape + (1,)]))
    return [_values(data, shape)], {"shape": target}


def _getitem(data):
    shape = data.draw(shapes)
    kind = data.draw(st.sampled_from(["slice", "int", "fancy", "mask"]))
    if kind == "slice":
        index = (slice(data.draw(st.integers(0, shape[0] - 1)), None, data.draw(st.integers(1, 2))),)
    elif kind == "int":
        index = data.draw(st.integers(-shape[0], shape[0] - 1))
    elif kind == "fancy":  # repeated indices each send their gradient back
        index = np.array(data.draw(st.lists(st.integers(0, shape[0] - 1), min_size=1, max_size=6)))
    else:
        index = np.random.default_rng(data.draw(seeds)).random(shape) > 0.5
    return [_values(data, shape)], {"index": index}


def _reduction(data, distinct=False):
    shape = data.draw(shapes)
    values = _distinct(data, shape) if distinct else _values(data, shape)
    return [values], {"axis": _axis(data, len(shape)), "keepdims": data.draw(st.booleans())}


def _joining(data, stack):
    shape = data.draw(shapes)
    axis = data.draw(st.integers(0, len(shape) if stack else len(shape) - 1))
    parts = []
    for _ in range(data.draw(st.integers(1, 3))):
        part = list(shape)
        if not stack:
            part[axis] = data.draw(st.integers(1, 3))
        parts.append(_values(data, tuple(part)))
    return parts, {"axis": axis}


def _unary(low=-2.0, high=2.0, gap=0.0, **attrs):
    def build(data):
        drawn = {k: data.draw(v) for k, v in attrs.items()}
        return [_values(data, data.draw(shapes), low, high, gap)], drawn

    return build


def _clip(data):
    low = data.draw(st.sampled_from([None, -0.5]))
    high = data.draw(st.sampled_from([None, 0.7] if low is not None else [0.7]))
    x = _values(data, data.draw(shapes))
    for bound in (low, high):  # off the bounds, where clip has a kink
        if bound is not None:
            x = np.where(np.abs(x - bound) < 0.05, x + 0.1, x)
    return [x], {"low": low, "high": high}


def _where(data):
    c_shape, a_shape, b_shape = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3,
                                                                           max_side=4)).input_shapes
    condition = np.random.default_rng(data.draw(seeds)).random(c_shape) > 0.5
    return [_values(data, a_shape), _values(data, b_shape)], {"condition": condition}


def _softmaxes(data):
    shape = data.draw(shapes)
    return [_values(data, shape, -3, 3)], {"axis": data.draw(st.integers(-len(shape), len(shape) - 1))}


def _loss(kind):
    def build(data):
        n, k = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 4))
        rng = np.random.default_rng(data.draw(seeds))
        if kind == "probabilities":  # an output in (0, 1), away from the clip at eps
            out = rng.uniform(0.05, 0.95, size=(n, k))
            target = rng.dirichlet(np.ones(k), size=n)
        elif kind == "binary":
            out = rng.uniform(0.05, 0.95, size=(n, k))
            target = rng.uniform(0, 1, size=(n, k))
        elif kind == "counts":
            out = rng.uniform(-2, 2, size=(n, k))
            target = rng.poisson(2.0, size=(n, k)).astype(np.float64)
        else:
            out = rng.uniform(-3, 3, size=(n, k))
            target = rng.dirichlet(np.ones(k), size=n) if kind == "logits" else rng.normal(size=(n, k))
        weight = data.draw(st.one_of(st.none(), st.just(rng.uniform(0.1, 2.0, size=n))))
        return [out], {"target": target, "weight": weight}

    return build


GENERATORS = {
    "add": _binary, "sub": _binary, "mul": _binary, "div": lambda d: _binary(d, gap=0.5),
    "neg": _unary(),
    "pow_scalar": _unary(0.3, 2.0, exponent=st.sampled_from([2, 3, 0.5, -1.5, 1.0])),
    "pow": lambda d: ([_values(d, s, 0.3, 2.0) if i == 0 else _values(d, s) for i, s in enumerate(_pair(d))], {}),
    "matmul": _matmul, "transpose": _transpose, "reshape": _reshape, "getitem": _getitem,
    "sum": _reduction, "mean": _reduction, "max": lambda d: _reduction(d, distinct=True),
    "concatenate": lambda d: _joining(d, stack=False), "stack": lambda d: _joining(d, stack=True),
    "exp": _unary(), "log": _unary(0.2, 3.0), "sqrt": _unary(0.2, 3.0), "abs": _unary(gap=0.1),
    "clip": _clip, "where": _where,
    "identity": _unary(), "sigmoid": _unary(-6, 6), "tanh": _unary(-3, 3), "relu": _unary(gap=0.05),
    "leaky_relu": _unary(gap=0.05, alpha=st.sampled_from([0.01, 0.2])),
    "elu": _unary(gap=0.05, alpha=st.sampled_from([1.0, 0.5])), "softplus": _unary(-6, 6),
    "gelu": _unary(-3, 3, approximate=st.sampled_from(["none", "tanh"])),
    "softmax": _softmaxes, "log_softmax": _softmaxes,
    "half_squared_error": _loss("values"), "squared_error": _loss("values"), "mse": _loss("values"),
    "cross_entropy": _loss("probabilities"), "cross_entropy_with_logits": _loss("logits"),
    "binary_cross_entropy": _loss("binary"), "binary_cross_entropy_with_logits": _loss("values"),
    "poisson": _loss("counts"),
}


def test_every_registered_op_has_a_generator():
    assert set(OPS) == set(GENERATORS), f"ops without a generator: {sorted(set(OPS) - set(GENERATORS))}"


@pytest.mark.parametrize("name", sorted(GENERATORS))
@OP_SETTINGS
@given(data=st.data())
def test_registered_vjp_matches_finite_differences(name, data):
    op = OPS[name]
    inputs, attrs = GENERATORS[name](data)

    def apply(*tensors):
        return Tensor._from_op(op, tuple(tensors), attrs)

    assert_matches_finite_differences(apply, *inputs, seed=data.draw(seeds), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ loaders against garbage
@pytest.fixture(scope="module")
def folder():
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


def _only_chainrule_errors(call):
    """``call()`` returns, or raises a chainrule error; anything else fails the test."""
    try:
        return call()
    except ChainruleError:
        return None


def _mutate(raw: bytes, data) -> bytes:
    """Flip, overwrite, cut, duplicate or insert bytes of ``raw``."""
    raw = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["flip", "set", "cut", "insert", "duplicate"]))
        at = data.draw(st.integers(0, max(len(raw) - 1, 0)))
        if kind == "flip" and raw:
            raw[at] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "set" and raw:
            raw[at] = data.draw(st.integers(0, 255))
        elif kind == "cut":
            raw = raw[:at]
        elif kind == "insert":
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=16))
        elif kind == "duplicate":
            raw[at:at] = raw[at:at + data.draw(st.integers(1, 64))]
    return bytes(raw)


def _idx(magic, shape, payload):
    return np.array([magic, *shape], dtype=">u4").tobytes() + payload


VALID_IDX = [
    _idx(0x00000803, (2, 3, 3), bytes(range(18))),
    _idx(0x00000801, (5,), bytes([0, 1, 2, 3, 9])),
    _idx(0x00000802, (2, 2), bytes([7, 7, 7, 7])),
]


@FUZZ_SETTINGS
@given(raw=st.binary(max_size=300), compressed=st.booleans(), magic=st.sampled_from([None, 0x0801, 0x0803]))
def test_random_bytes_into_the_idx_reader(folder, raw, compressed, magic):
    path = folder / ("random-idx.gz" if compressed else "random-idx")
    path.write_bytes(gzip.compress(raw) if compressed else raw)
    _only_chainrule_errors(lambda: read_idx(path, magic))


@FUZZ_SETTINGS
@given(data=st.data(), which=st.integers(0, len(VALID_IDX) - 1), compressed=st.booleans())
def test_mutated_idx_files(folder, data, which, compressed):
    raw = _mutate(VALID_IDX[which], data)
    path = folder / ("mutated-idx.gz" if compressed else "mutated-idx")
    path.write_bytes(gzip.compress(raw) if compressed and data.draw(st.booleans()) else
                     _mutate(gzip.compress(raw), data) if compressed else raw)
    array = _only_chainrule_errors(lambda: read_idx(path))
    if array is not None:  # whatever is accepted is exactly what its header describes
        header = 4 + 4 * raw[3]
        assert array.shape == tuple(int(s) for s in np.frombuffer(raw, ">u4", raw[3], 4))
        assert array.tobytes() == raw[header:]


@FUZZ_SETTINGS
@given(text=st.text(max_size=200), raw=st.binary(max_size=200), use_text=st.booleans(),
       target=st.sampled_from([-1, 0, "y", None]))
def test_random_text_and_bytes_into_the_csv_reader(folder, text, raw, use_text, target):
    path = folder / "random.csv"
    if use_text:
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(raw)
    result = _only_chainrule_errors(lambda: load_csv(path, target=target))
    if result is not None:
        x, y = result
        assert np.isfinite(x).all() and (y is None or np.isfinite(y).all())


@pytest.fixture(scope="module")
def model_files(folder):
    """A model file, a checkpoint holding arrays in its state, and the bytes of both."""
    net = cr.MLP([2, 3, 2], activation="tanh", output_activation="softmax", seed=0)
    model = save(net, folder / "valid-model.safetensors").read_bytes()
    checkpoint = save_checkpoint(folder / "valid-checkpoint.safetensors", net, epoch=3, step=12,
                                 extra={"table": np.arange(4.0), "nested": {"k": [1, 2.5, "x"]}}).read_bytes()
    return model, checkpoint


LOADERS = [load, load_checkpoint, read_metadata]


@FUZZ_SETTINGS
@given(raw=st.binary(max_size=400), loader=st.sampled_from(LOADERS))
def test_random_bytes_into_the_model_loader(folder, raw, loader):
    path = folder / "random.safetensors"
    path.write_bytes(raw)
    with pytest.raises(ModelFileError):
        loader(path)


@FUZZ_SETTINGS
@given(data=st.data(), which=st.integers(0, 1), loader=st.sampled_from(LOADERS))
def test_mutated_model_files(folder, model_files, data, which, loader):
    path = folder / "mutated.safetensors"
    path.write_bytes(_mutate(model_files[which], data))
    _only_chainrule_errors(lambda: loader(path))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=12,
)


def _paths(value, prefix=()):
    """Every path (tuple of keys and indices) into a JSON document, the root included."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, prefix + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _paths(item, prefix + (i,))


def _replace(document, path, new):
    if not path:
        return new
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = new
    return document


@FUZZ_SETTINGS
@given(data=st.data(), which=st.integers(0, 1), loader=st.sampled_from(LOADERS))
def test_model_files_with_mutated_json(folder, model_files, data, which, loader):
    """Any value in the header or the chainrule metadata replaced by any JSON value."""
    raw = model_files[which]
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    meta = json.loads(header["__metadata__"]["chainrule"])
    new = data.draw(json_values)
    if data.draw(st.booleans()):
        meta = _replace(meta, data.draw(st.sampled_from(list(_paths(meta)))), new)
        header["__metadata__"]["chainrule"] = json.dumps(meta)
    else:
        header = _replace(header, data.draw(st.sampled_from(list(_paths(header)))), new)
    text = json.dumps(header).encode()
    path = folder / "mutated-json.safetensors"
    path.write_bytes(len(text).to_bytes(8, "little") + text + raw[8 + n:])
    _only_chainrule_errors(lambda: loader(path))


def test_the_fuzzers_can_fail():
    """The harness lets a foreign exception through: a loader that raised KeyError would fail the fuzz."""
    with pytest.raises(KeyError):
        _only_chainrule_errors(lambda: {}["missing"])
    assert _only_chainrule_errors(lambda: (_ for _ in ()).throw(DataError("bad"))) is None
