"""One learner's playground: the data, the network, its optimizer and the training loop, all chainrule's.

The session knows nothing of sockets: the server turns messages into calls here and
the returned dicts into JSON. Training runs the engine's fast path
(:func:`chainrule.train.loss_and_grad_fn`, the same one :func:`chainrule.fit` uses) and a
:mod:`chainrule.optim` optimizer, one mini-batch at a time, so play can pause between any
two steps. L1 and L2 penalties, E_pen = l1 sum |w| + l2/2 sum w^2 over the weights (not
the biases), are built from chainrule's ops and sent back through ``backward()``, so
their derivative, too, is the engine's.

Heatmaps are evaluated on a G x G grid over the data's square [-R, R]^2: each input
feature, each neuron's out (scaled by its largest |out| on the grid) and the output's
decision, quantised to bytes (0-255) and base64-encoded.
"""

from __future__ import annotations

import base64
import copy
import secrets
import time
from typing import Any

import numpy as np

from chainrule.errors import ConfigError, DataError
from chainrule.web.config import DEFAULT, FEATURES, Targets, merge, validate
from chainrule.web.data import Points, Table, make_points

__all__ = ["Session", "GRID", "NEURON_GRID"]

GRID = 48          # output heatmap resolution
NEURON_GRID = 20   # hidden-neuron heatmaps
_HISTORY = 400     # loss-curve points kept (older ones thinned)


def _bytes64(values: np.ndarray) -> str:
    """Values in [0, 1] as one byte each (NaN, from a diverged network, as 0.5), base64."""
    cells = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.5, posinf=1.0, neginf=0.0)
    return base64.b64encode(np.clip(np.round(cells * 255), 0, 255).astype(np.uint8).tobytes()).decode("ascii")


def _features(points: np.ndarray, names: list[str]) -> np.ndarray:
    return np.column_stack([FEATURES[f](points) for f in names]).astype(np.float64)


def _grid(radius: float, size: int) -> np.ndarray:
    """Cell centres row by row from the top (x2 = +R) down, x1 left to right: (size*size, 2)."""
    ticks = (np.arange(size) + 0.5) / size * 2 * radius - radius
    x1, x2 = np.meshgrid(ticks, ticks[::-1])
    return np.column_stack([x1.ravel(), x2.ravel()])


class Session:
    """State of one playground: set-up, points, network, optimizer, epoch, loss history.

    Parameters
    ----------
    setup : dict, optional
        A (partial) set-up as in :mod:`chainrule.web.config`; the defaults fill the rest.
    """

    def __init__(self, setup: dict[str, Any] | None = None, session_id: str | None = None) -> None:
        self.id = session_id or secrets.token_urlsafe(12)
        self.setup = validate(DEFAULT) if setup is None else merge(DEFAULT, setup)
        self.uploaded: Points | None = None
        self.table: Table | None = None  # the last uploaded table, all its columns
        self.playing = False
        self.sample = 0
        self.last_seen = time.monotonic()
        self._build_data()
        self.reset()

    # ------------------------------------------------------------ building
    def _build_data(self) -> None:
        from chainrule.datasets import split_data

        data = self.setup["data"]
        if data["kind"] == "csv":
            if self.uploaded is None:
                raise DataError("no table uploaded yet: upload a CSV file first, then choose data set 'csv'")
            if self.uploaded.classes != data["classes"]:
                raise ConfigError(f"the uploaded table has {self.uploaded.classes} classes; set classes to "
                                  f"{self.uploaded.classes}")
            self.points = self.uploaded
        else:
            self.points = make_points(data)
        (self.x_train, self.y_train), (self.x_test, self.y_test) = split_data(
            self.points.x, self.points.y, data["test_fraction"], seed=data["seed"])
        self.radius = float(np.ceil(np.abs(self.points.x).max() * 11) / 10)
        self.sample = 0
        self._features_changed()

    def _features_changed(self) -> None:
        names = self.setup["features"]
        self.f_train = _features(self.x_train, names)
        self.f_test = _features(self.x_test, names)
        self.f_grid = _features(_grid(self.radius, GRID), names)
        self.f_neuron_grid = _features(_grid(self.radius, NEURON_GRID), names)

    def reset(self, seed: int | None = None) -> None:
        """A fresh network from the set-up's seed (or ``seed``, stored in the set-up), epoch 0."""
        from chainrule import MLP
        from chainrule.optim import get_optimizer
        from chainrule.train import loss_and_grad_fn

        if seed is not None:
            self.setup = merge(self.setup, {"seed": seed})
        net = self.setup["network"]
        self.targets = Targets.of(net, self.points.classes)
        self.t_train = self.targets.make(self.y_train)
        self.t_test = self.targets.make(self.y_test)
        sizes = [len(self.setup["features"])] + [h["units"] for h in net["hidden"]] + [self.targets.units]
        self.model = MLP(sizes, activation=[h["activation"] for h in net["hidden"]],
                         output_activation=net["output_activation"], seed=self.setup["seed"],
                         dropout=net["dropout"] if net["hidden"] else 0.0)
        self.step_fn = loss_and_grad_fn(self.model, net["loss"])
        opt = self.setup["optimizer"]
        self.optimizer = get_optimizer(opt["name"], self.model, lr=opt["lr"])
        self.batch_rng = np.random.default_rng(self.setup["seed"] + 1)
        self.epoch = 0
        self.steps = 0
        self.history: list[tuple[int, float, float]] = []
        self._record()

    def configure(self, change: dict[str, Any]) -> dict[str, Any]:
        """Apply a (partial) set-up. New data or network: a fresh network; a new optimizer
        keeps the weights; a new learning rate is read at the next step."""
        new = merge(self.setup, change)
        old = self.setup
        self.setup = new
        try:
            if new["data"] != old["data"]:
                self._build_data()
                self.reset()
            elif new["network"] != old["network"] or new["features"] != old["features"] or new["seed"] != old["seed"]:
                self._features_changed()
                self.reset()
            elif new["optimizer"]["name"] != old["optimizer"]["name"]:
                from chainrule.optim import get_optimizer

                self.optimizer = get_optimizer(new["optimizer"]["name"], self.model, lr=new["optimizer"]["lr"])
            self.optimizer.lr = new["optimizer"]["lr"]
        except Exception:
            self.setup = old
            raise
        return self.setup

    def load_table(self, table: Table) -> None:
        """Keep an uploaded table; :meth:`choose_columns` plots two of its columns (until then
        the screen is unchanged, so a table whose default columns are refused can still be used)."""
        self.table = table

    def choose_columns(self, x1: str = "0", x2: str = "1", label: str = "-1") -> None:
        """Plot columns ``x1`` and ``x2`` of the uploaded table, labelled by column ``label``
        (each by name or 0-based index; see :meth:`chainrule.web.data.Table.points`)."""
        if self.table is None:
            raise DataError("no table uploaded yet: upload a CSV file first, then choose its columns")
        self.use_table(self.table.points(x1, x2, label))

    def use_table(self, points: Points) -> None:
        """Show an uploaded table: data set "csv" with its classes (softmax and cross-entropy
        when it has more than two and the loss was binary cross-entropy), a fresh network."""
        previous = self.uploaded
        self.uploaded = points
        change: dict[str, Any] = {"data": {"kind": "csv", "classes": points.classes}}
        if points.classes > 2 and self.setup["network"]["loss"] == "binary_cross_entropy":
            change["network"] = {"output_activation": "softmax", "loss": "cross_entropy"}
        try:
            self.setup = merge(self.setup, change)
            self._build_data()
            self.reset()
        except Exception:
            self.uploaded = previous
            raise

    # ------------------------------------------------------------ training
    def _penalty(self) -> None:
        """Add dE_pen/dw of E_pen = l1 sum|w| + l2/2 sum w^2 to each weight's grad, by the engine's backward()."""
        from chainrule import functional as F

        l1, l2 = self.setup["network"]["l1"], self.setup["network"]["l2"]
        if not (l1 or l2):
            return
        total = None
        for linear, _ in self.model.layers():
            w = linear.weight
            term = F.mul(l1, F.sum(F.abs(w))) if l1 else None
            if l2:
                square = F.mul(0.5 * l2, F.sum(F.mul(w, w)))
                term = square if term is None else F.add(term, square)
            total = term if total is None else F.add(total, term)
        total.backward()

    def train_epoch(self) -> None:
        """One pass over the training points in shuffled mini-batches."""
        batch = self.setup["optimizer"]["batch_size"]
        order = self.batch_rng.permutation(len(self.f_train))
        self.model.train()
        # A learning rate too large overflows: the check below stops play with a message,
        # so NumPy's warnings (errors under a strict configuration) are not wanted here.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for start in range(0, len(order), batch):
                rows = order[start:start + batch]
                self.step_fn(self.f_train[rows], self.t_train[rows])
                self._penalty()
                self.optimizer.step()
                self.steps += 1
        self.epoch += 1
        if not all(np.isfinite(p.data).all() for p in self.model.parameters()):
            self.playing = False
            self._record()  # the last frame shows the diverged losses, not the ones before
            raise ConfigError(f"training diverged at epoch {self.epoch} (a weight is NaN or infinite): "
                              "lower the learning rate and reset")

    def run(self, budget: float) -> int:
        """Train whole epochs for about ``budget`` seconds (at least one); returns how many."""
        start = time.perf_counter()
        done = 0
        while True:
            self.train_epoch()
            done += 1
            if time.perf_counter() - start >= budget:
                break
        self._record()
        return done

    def step(self, epochs: int = 1) -> None:
        for _ in range(epochs):
            self.train_epoch()
        self._record()

    # ------------------------------------------------------------ reading the network
    def _outputs(self, features: np.ndarray) -> list[np.ndarray]:
        """Every layer's out for ``features`` (eval mode: no dropout), input side first."""
        from chainrule import Activation, Tensor, no_grad

        self.model.eval()
        outs = []
        with no_grad():
            h = Tensor(features)
            for module in self.model:
                h = module(h)
                if isinstance(module, Activation):
                    outs.append(h.data)
        return outs

    def loss(self, features: np.ndarray, targets: np.ndarray) -> float:
        from chainrule import Tensor, no_grad
        from chainrule.losses import get_loss

        self.model.eval()
        with no_grad():
            return float(get_loss(self.setup["network"]["loss"])(self.model(Tensor(features)), targets).item())

    def _record(self) -> None:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            train, test = self.loss(self.f_train, self.t_train), self.loss(self.f_test, self.t_test)
        self.history.append((self.epoch, train, test))
        if len(self.history) > _HISTORY:  # keep the first and last points, thin the middle
            self.history = self.history[:1] + self.history[2::2][: _HISTORY // 2] + self.history[_HISTORY // 2 + 2:]

    def accuracy(self, features: np.ndarray, y: np.ndarray) -> float:
        return float((self.targets.predict(self._outputs(features)[-1]) == y).mean())

    def frame(self) -> dict[str, Any]:
        """What the screen shows now: epoch, losses, the output heatmap and each neuron's."""
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return self._frame()

    def _frame(self) -> dict[str, Any]:
        output = self._outputs(self.f_grid)[-1]
        score = self.targets.score(output)
        heat: dict[str, Any] = {"size": GRID}
        if self.targets.units == 1:
            heat["value"] = _bytes64(score)
        else:
            heat["cls"] = base64.b64encode(score.astype(np.uint8).tobytes()).decode("ascii")
            heat["value"] = _bytes64(output.max(axis=1) if self.setup["network"]["output_activation"] == "softmax"
                                     else np.full(len(output), 0.8))
        neurons = []  # layer 0: the input features; then each layer's neurons, the output layer's last
        for out in [self.f_neuron_grid, *self._outputs(self.f_neuron_grid)]:
            layer = []
            for j in range(out.shape[1]):
                v = out[:, j]
                scale = float(np.abs(v).max()) or 1.0
                layer.append(_bytes64((v / scale + 1) / 2))
            neurons.append(layer)
        epoch, train, test = self.history[-1]
        return {"type": "frame", "epoch": epoch, "steps": self.steps, "train_loss": train, "test_loss": test,
                "playing": self.playing, "output": heat, "neurons": {"size": NEURON_GRID, "grids": neurons},
                "weights": self.weights()}

    def weights(self) -> list[dict[str, list]]:
        """Each layer's w_ij (n_in, n_out) and b_j, as nested lists."""
        return [{"w": linear.weight.data.tolist(), "b": linear.bias.data.tolist() if linear.bias is not None else []}
                for linear, _ in self.model.layers()]

    def names(self) -> dict[str, Any]:
        """Every weight's, bias's and neuron's name under Mazur's scheme extended ("auto")."""
        from chainrule.learn import Names

        sizes = self.model.sizes
        scheme = Names(sizes, "auto")
        return {"sizes": sizes,
                "neurons": [[scheme.neuron(layer, j) for j in range(n)] for layer, n in enumerate(sizes)],
                "weights": [[[scheme.weight(layer, i, j) for j in range(sizes[layer])]
                             for i in range(sizes[layer - 1])] for layer in range(1, len(sizes))],
                "biases": [[scheme.bias_of(layer, j) for j in range(sizes[layer])]
                           for layer in range(1, len(sizes))]}

    def state(self) -> dict[str, Any]:
        """Everything a (re)connecting page needs: set-up, data, names, history, the current sample."""
        return {"type": "state", "session": self.id, "setup": copy.deepcopy(self.setup),
                "data": {"radius": self.radius, "classes": self.points.classes, "columns": self.points.columns,
                         "train": {"x": np.round(self.x_train, 4).tolist(), "y": self.y_train.tolist()},
                         "test": {"x": np.round(self.x_test, 4).tolist(), "y": self.y_test.tolist()},
                         "uploaded": self.uploaded is not None, "table": self.table_info()},
                "network": self.names(), "history": self.history, "sample": self.sample_info(),
                "playing": self.playing}

    def table_info(self) -> dict[str, Any] | None:
        """The uploaded table's column names and rows, and which columns are plotted (x1, x2,
        label; None while the last table's columns have not been accepted)."""
        if self.table is None:
            return None
        plotted = self.uploaded is not None and self.uploaded.table is self.table
        return {"columns": list(self.table.names), "rows": len(self.table.values),
                "chosen": list(self.uploaded.chosen) if plotted else None}

    # ------------------------------------------------------------ the learner tools
    def choose_sample(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self.x_train):
            raise ConfigError(f"sample index must lie in 0..{len(self.x_train) - 1}, got {index}")
        self.sample = index
        return self.sample_info()

    def sample_info(self) -> dict[str, Any]:
        i = self.sample
        return {"index": i, "point": self.x_train[i].tolist(), "inputs": self.f_train[i].tolist(),
                "label": int(self.y_train[i]), "features": self.setup["features"]}

    def explained_net(self) -> Any:
        """The network as the learner tools read it: its Linear and activation modules (dropout is
        off outside training, so the Dropout modules are left out), sharing the weights."""
        from chainrule import Dropout, Sequential

        return Sequential(*[m for m in self.model if not isinstance(m, Dropout)])

    def current(self) -> tuple[Any, np.ndarray, Any, str]:
        """(network, x, target, loss) of the current sample, for explain, trace and check."""
        i = self.sample
        return self.explained_net(), self.f_train[i], self.targets.one(int(self.y_train[i])), \
            self.setup["network"]["loss"]
