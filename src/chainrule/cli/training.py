"""``chainrule train``, ``chainrule evaluate`` and ``chainrule predict``.

Data comes from exactly one of ``--data DIR`` (MNIST or Fashion-MNIST IDX files,
``--kind``), ``--csv FILE`` (numeric table, ``--target`` column) or ``--dataset NAME``
(the embedded 8x8 digits or a seeded toy set). ``train`` builds an MLP, runs
:func:`chainrule.fit` printing one table row per epoch, reports the test accuracy and
can save the model (``--out``) and draw the training curves (``--plot``)::

    chainrule train --data ~/data --layers 784,30,10 --activation sigmoid \\
        --output-activation sigmoid --loss half_squared_error --optimizer sgd --lr 3.0 \\
        --batch-size 10 --epochs 30 --out mnist.safetensors
    chainrule evaluate mnist.safetensors --data ~/data
    chainrule predict mnist.safetensors --csv new.csv --out predictions.csv
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import sys
import time
from dataclasses import dataclass, field
from typing import Any, TextIO

import numpy as np

from chainrule._display import plural, printable
from chainrule.cli.data_flags import Data, add_data_arguments, load_data
from chainrule.errors import ConfigError, DataError

__all__ = ["register", "build_model", "choose_loss", "fit_targets", "train_from_args", "TrainResult"]

_LINEAR = ("none", "identity", "linear")
_HEADINGS = {"loss": "train loss", "val_loss": "val loss", "val_accuracy": "val acc", "test_loss": "test loss",
             "test_accuracy": "test acc"}


def register(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser(
        "train", help="train a network on MNIST, a CSV table or a built-in set",
        description="Train an MLP by mini-batch gradient descent and report its test accuracy.")
    add_data_arguments(train)
    model = train.add_argument_group("network and training")
    model.add_argument("--layers", metavar="SIZES", help="all layer sizes, input first, e.g. 784,30,10")
    model.add_argument("--hidden", metavar="SIZES", default="30",
                       help="hidden sizes when --layers is not given, e.g. 100,50; 'none' for no hidden layer "
                            "(default 30; input and output sizes come from the data)")
    model.add_argument("--activation", default="relu", help="hidden activation (default relu)")
    model.add_argument("--output-activation", default="none",
                       help="output activation: none (logits, default), softmax, sigmoid, ...")
    model.add_argument("--loss", default="auto", help="a loss of chainrule.losses (default: the output's "
                       "natural one, e.g. cross_entropy_with_logits for logits)")
    model.add_argument("--allow-mismatch", action="store_true",
                       help="train a loss that does not fit the output activation anyway, with a warning")
    model.add_argument("--optimizer", default="adam", help="sgd, adam, adamw, rmsprop, adagrad (default adam)")
    model.add_argument("--lr", type=float, default=None, help="learning rate (default: the optimizer's)")
    model.add_argument("--lr-schedule", default=None, metavar="NAME",
                       help="step, exponential, cosine, invscaling or adaptive (default: a constant rate)")
    model.add_argument("--epochs", type=int, default=10, help="(default 10)")
    model.add_argument("--batch-size", type=int, default=32, help="(default 32)")
    model.add_argument("--validation-split", type=float, default=None,
                       help="hold out this share of the training rows for a per-epoch validation score")
    model.add_argument("--patience", type=int, default=None, help="stop after this many epochs without "
                       "improvement (of val_loss, else loss) and keep the best weights")
    model.add_argument("--limit", type=int, default=None, metavar="N",
                       help="train on the first N training samples only (quick trials)")
    model.add_argument("--dtype", choices=("float32", "float64"), default="float32", help="(default float32)")
    model.add_argument("--out", metavar="FILE", help="save the trained model, e.g. model.safetensors")
    model.add_argument("--plot", metavar="FILE", help="draw the training curves, e.g. curves.png")
    model.add_argument("--save-interrupted", action="store_true",
                       help="after Ctrl-C, still write the partly trained model to --out (default: keep --out as "
                            "it was and exit with code 130)")
    train.set_defaults(handler=run_train)

    evaluate = subparsers.add_parser("evaluate", help="loss and accuracy of a saved model on data",
                                     description="Score a saved model: the test part of --data, of --dataset "
                                                 "or of the CSV train split (as the model file records the "
                                                 "split), or a whole other CSV.")
    evaluate.add_argument("model", metavar="MODEL", help="a model file written by chainrule train --out")
    add_data_arguments(evaluate)
    evaluate.set_defaults(handler=run_evaluate)

    predict = subparsers.add_parser("predict", help="a saved model's predictions as CSV",
                                    description="Write one row per sample: the predicted label and the class "
                                                "probabilities, or the predicted values for regression.")
    predict.add_argument("model", metavar="MODEL", help="a model file written by chainrule train --out")
    add_data_arguments(predict, predict=True)
    predict.add_argument("--out", metavar="FILE", help="write the CSV here (default: standard output)")
    predict.set_defaults(handler=run_predict)


# ------------------------------------------------------------------ model, loss, targets
def _check_activation(name: str, flag: str) -> str | None:
    from chainrule.nn import make_activation

    if name in _LINEAR:
        return None
    try:
        make_activation(name)
    except ConfigError:
        from chainrule.ops import ACTIVATIONS

        raise ConfigError(f"{flag}: unknown activation {name!r}; choose one of none, "
                          f"{', '.join(ACTIVATIONS)}") from None
    return name


def build_model(args: argparse.Namespace, data: Data) -> Any:
    """The MLP the flags describe, its sizes checked against the data."""
    from chainrule.cli.limits import check_network
    from chainrule.cli.netspec import parse_layers
    from chainrule.nn import MLP

    n_out = data.n_classes if data.n_classes is not None else data.train[1].reshape(len(data.train[1]), -1).shape[1]
    if args.layers is not None:
        sizes = parse_layers(args.layers)
        if sizes[0] != data.n_features:
            raise DataError(f"--layers starts with {sizes[0]} inputs, but {data.name} has {data.n_features} "
                            f"features per sample; start the list with {data.n_features}")
        binary = data.n_classes == 2 and sizes[-1] == 1
        if sizes[-1] != n_out and not binary:
            what = f"{n_out} classes" if data.n_classes is not None else f"{n_out} target columns"
            raise DataError(f"--layers ends with {sizes[-1]} outputs, but {data.name} has {what}; "
                            f"end the list with {n_out}")
    else:
        sizes = [data.n_features, *_hidden_sizes(args.hidden), n_out]
    rows = len(data.train[0]) if data.train is not None else 1
    batch = max(1, min(getattr(args, "batch_size", 1), rows))  # fit never makes a batch larger than the data
    check_network(sizes, batch=batch, itemsize=np.dtype(args.dtype).itemsize,
                  flag="--layers" if args.layers is not None else "the network")
    activation = _check_activation(args.activation, "--activation") or "identity"
    output = _check_activation(args.output_activation, "--output-activation")
    return MLP(sizes, activation=activation, output_activation=output, seed=args.seed, dtype=args.dtype)


def _hidden_sizes(text: str) -> list[int]:
    """--hidden: positive sizes such as 100,50, or none (also '' or 0) for no hidden layer."""
    if text.strip().lower() in ("", "none", "0"):
        return []
    try:
        sizes = [int(part) for part in text.split(",")]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise ConfigError(f"--hidden: expected hidden sizes >= 1 such as 100,50, or none, got {text[:80]!r}")
    return sizes


def _output_name(model: Any) -> str:
    from chainrule.nn import output_activation_name

    return output_activation_name(model) or "identity"


def _n_inputs(model: Any) -> int:
    return model.layers()[0][0].n_in


def choose_loss(loss: str, model: Any, n_classes: int | None, allow_mismatch: bool = False) -> str:
    """The named loss checked against the output layer, or for ``auto`` :func:`chainrule.losses.auto_loss`'s."""
    from chainrule.losses import auto_loss, check_pair, get_loss
    from chainrule.nn import output_activation_name

    output = output_activation_name(model)
    if loss != "auto":
        get_loss(loss)  # a ConfigError naming the choices for an unknown loss
        check_pair(output, loss, allow_mismatch)  # the same refusal as chainrule.fit's
        return loss
    return auto_loss(output, model.layers()[-1][0].n_out, classes=n_classes is not None)


def fit_targets(y: np.ndarray, loss: str, n_out: int, n_classes: int | None, dtype: Any) -> np.ndarray:
    """Targets in the form ``loss`` takes: class indices, a 0/1 column, one-hot rows or values."""
    from chainrule.losses import LOSS_DEFS

    if n_classes is None:
        return y.reshape(len(y), -1).astype(dtype)
    if n_out == 1:
        return y.reshape(-1, 1).astype(dtype)
    if LOSS_DEFS[loss].class_targets:
        return y
    if int(y.max()) >= n_out:
        raise DataError(f"labels go up to {int(y.max())} but the model has {n_out} outputs")
    one_hot = np.zeros((len(y), n_out), dtype=dtype)  # target_k = 1 for the true class k, else 0
    one_hot[np.arange(len(y)), y] = 1
    return one_hot


def _metrics(n_classes: int | None) -> tuple[str, ...]:
    return ("accuracy",) if n_classes is not None else ("r2",)


# ------------------------------------------------------------------ train
class _EpochTable:
    """Prints one row per epoch: training loss, validation and test scores, seconds."""

    def __init__(self, model: Any, test: tuple[np.ndarray, np.ndarray], loss: str, metric: str,
                 stream: TextIO) -> None:
        self.model, self.test, self.loss, self.metric, self.stream = model, test, loss, metric, stream
        self.rows: list[dict[str, float]] = []
        self.header_done = False

    def _cell(self, key: str, value: float) -> str:
        if key.endswith("accuracy"):
            return f"{100 * value:9.2f}%"
        return f"{value:10.4g}" if key.endswith("r2") else f"{value:10.6f}"

    def __call__(self, epoch: int, logs: dict[str, float]) -> None:
        from chainrule.train import evaluate

        scores = evaluate(self.model, *self.test, loss=self.loss, metrics=(self.metric,), allow_mismatch=True)
        row = {k: v for k, v in logs.items() if k in ("loss", "val_loss", f"val_{self.metric}")}
        row.update({"test_loss": scores["loss"], f"test_{self.metric}": scores[self.metric]})
        self.rows.append(row)
        if not self.header_done:
            names = ["epoch"] + [_HEADINGS.get(k, k.replace("_", " ")) for k in row] + ["seconds"]
            print("  ".join(f"{n:>10}" if i else f"{n:>5}" for i, n in enumerate(names)), file=self.stream)
            self.header_done = True
        cells = [f"{epoch + 1:5d}"] + [self._cell(k, v) for k, v in row.items()] + [f"{logs.get('time', 0):10.2f}"]
        print("  ".join(cells), file=self.stream, flush=True)


@dataclass
class TrainResult:
    """What ``train_from_args`` did: the model, its history, per-epoch test scores and the final ones."""

    model: Any
    history: Any
    loss: str
    test: dict[str, float]
    epochs: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0
    data: Data | None = None


def train_from_args(args: argparse.Namespace, stream: TextIO | None = None) -> TrainResult:
    """Everything ``chainrule train`` does, returning the results instead of an exit code."""
    from chainrule.callbacks import LambdaCallback
    from chainrule.distributed import launched_comm
    from chainrule.train import evaluate, fit

    comm = launched_comm()  # under mpirun -n R (R > 1): data-parallel, rank 0 alone prints and saves
    root = comm is None or comm.Get_rank() == 0
    stream = (stream or sys.stdout) if root else io.StringIO()
    for flag, value in (("--epochs", args.epochs), ("--batch-size", args.batch_size)):
        if value < (0 if flag == "--epochs" else 1):
            raise ConfigError(f"{flag} must be {'>= 0' if flag == '--epochs' else '>= 1'}, got {value}")
    from chainrule.cli.limits import check_outputs

    if args.plot:
        _plot_history_function()  # fail before training, not after
    check_outputs(args)  # --out and --plot: folder, suffix, no FIFO or device, before any work
    data = load_data(args, need_train=True)
    if args.limit is not None:
        if args.limit < 1:
            raise ConfigError(f"--limit must be >= 1, got {args.limit}")
        data.train = (data.train[0][:args.limit], data.train[1][:args.limit])
    present = np.unique(data.train[1]) if data.n_classes is not None else None
    if present is not None and len(present) < 2:
        raise DataError(f"{data.name}: every training label is {present[0]}, only one class; a classifier needs "
                        "examples of at least two classes (for regression, give targets that are not whole numbers)")
    model = build_model(args, data)
    loss = choose_loss(args.loss, model, data.n_classes, getattr(args, "allow_mismatch", False))
    n_out = model.layers()[-1][0].n_out
    dtype = np.dtype(args.dtype)
    (x_train, y_train), (x_test, y_test) = data.train, data.test
    y_fit = fit_targets(y_train, loss, n_out, data.n_classes, dtype)
    y_eval = fit_targets(y_test, loss, n_out, data.n_classes, dtype)
    what = f"{data.n_classes} classes" if data.n_classes is not None else "regression"
    print(f"data: {data.name}, {len(x_train):,} training and {len(x_test):,} test samples, "
          f"{data.n_features} features, {what}", file=stream)
    lr = f", lr {args.lr:g}" if args.lr is not None else ""
    lr += f" ({args.lr_schedule} schedule)" if args.lr_schedule else ""
    output = "linear (logits)" if args.output_activation in _LINEAR else args.output_activation
    hidden = f"{args.activation} hidden, " if len(model.sizes) > 2 else ""
    print(f"network: {'-'.join(map(str, model.sizes))}, {hidden}{output} output; loss {loss}; {args.optimizer}{lr}, "
          f"batch {args.batch_size}, {plural(args.epochs, 'epoch')}, seed {args.seed}", file=stream)
    metric = _metrics(data.n_classes)[0]
    table = _EpochTable(model, (x_test, y_eval), loss, metric, stream)
    start = time.perf_counter()
    history = fit(model, x_train, y_fit, loss=loss, optimizer=args.optimizer, lr=args.lr, epochs=args.epochs,
                  batch_size=args.batch_size, seed=args.seed, validation_split=args.validation_split,
                  early_stopping=args.patience, lr_schedule=args.lr_schedule, metrics=(metric,), progress=False,
                  callbacks=[LambdaCallback(on_epoch_end=table)],
                  allow_mismatch=getattr(args, "allow_mismatch", False), comm=comm)
    seconds = time.perf_counter() - start
    final = evaluate(model, x_test, y_eval, loss=loss, metrics=(metric,), allow_mismatch=True)  # checked above
    if history.stop_reason != "completed":
        print(f"stopped: {history.message}" if history.message else
              f"stopped: {history.stop_reason.replace('_', ' ')}", file=stream)
    print(f"test {_describe(final, metric, len(x_test))} after {plural(history.epochs, 'epoch')} in "
          f"{seconds:.1f} s", file=stream)
    interrupted = history.stop_reason == "interrupted"
    if interrupted and not getattr(args, "save_interrupted", False):
        kept = f"; {args.out} was not written (add --save-interrupted to save an interrupted run)" if args.out else ""
        print(f"interrupted{kept}", file=stream)
        return TrainResult(model, history, loss, final, table.rows, seconds, data)
    if args.out and root:
        _save(model, args.out, split=data.split)
        print(f"saved the model to {args.out}", file=stream)
    if args.plot and root:
        _plot_history_function()(history, args.plot, title=f"{data.name}: {'-'.join(map(str, model.sizes))}")
        print(f"drew the training curves in {args.plot}", file=stream)
    return TrainResult(model, history, loss, final, table.rows, seconds, data)


def _describe(scores: dict[str, float], metric: str, n: int) -> str:
    if metric == "accuracy":
        right = round(scores["accuracy"] * n)
        return f"accuracy {100 * scores['accuracy']:.2f}% ({right:,} of {n:,}), loss {scores['loss']:.6f}"
    return f"r2 {scores[metric]:.4f}, loss {scores['loss']:.6f}"


def _plot_history_function() -> Any:
    try:
        from chainrule.plot import plot_history
    except ImportError as error:
        raise ConfigError(f"--plot needs chainrule.plot and matplotlib ({error}); install chainrule[plot] "
                          "or leave out --plot") from None
    return plot_history


def _save(model: Any, path: str, split: dict[str, Any] | None = None) -> None:
    """Write the trained model to ``path``; when that fails, to a file of its own elsewhere, and say where."""
    from chainrule.errors import ModelFileError
    from chainrule.io import save

    try:
        save(model, path, split=split)
    except ModelFileError as error:
        rescued = _save_elsewhere(model, path, split)
        where = f"the trained model was saved to {rescued} instead" if rescued else \
            "the trained model could not be saved anywhere else either"
        raise ModelFileError(f"{error}; {where}") from None


def _save_elsewhere(model: Any, path: str, split: dict[str, Any] | None) -> str | None:
    """A new file in the temporary folder, else the current folder, holding the model; its path or None."""
    import os
    import tempfile
    from pathlib import Path

    from chainrule.errors import ChainruleError
    from chainrule.io import save

    stem = Path(path).name[:100] or "model.safetensors"
    for folder in (tempfile.gettempdir(), os.getcwd()):
        try:
            fd, name = tempfile.mkstemp(prefix="chainrule-rescued-", suffix=f"-{stem}", dir=folder)
            os.close(fd)
        except OSError:
            continue
        try:
            save(model, name, split=split)
            return name
        except ChainruleError:
            with contextlib.suppress(OSError):
                os.unlink(name)
    return None


def _load(path: str) -> tuple[Any, dict[str, Any] | None]:
    """The network in a model file and the data split it records (None for files without one), one read."""
    from chainrule.io.container import read_file

    meta, model, _ = read_file(path)
    split = meta.get("split")
    return model, split if isinstance(split, dict) else None


def run_train(args: argparse.Namespace) -> int:
    result = train_from_args(args)
    return 130 if result.history.stop_reason == "interrupted" else 0  # 128 + SIGINT, as shells report Ctrl-C


# ------------------------------------------------------------------ evaluate and predict
def _check_features(model: Any, data: Data, path: str) -> None:
    n_in = _n_inputs(model)
    if data.n_features != n_in:
        hint = " (is --target right?)" if data.name.endswith(".csv") else ""
        raise DataError(f"{path} expects {n_in} features per sample, but {data.name} has "
                        f"{data.n_features}{hint}")


def _check_finite(out: np.ndarray, path: str) -> None:
    """Refuse predictions that are NaN or infinite, naming how many rows have them."""
    bad = ~np.isfinite(out).all(axis=tuple(range(1, out.ndim)))
    if bad.any():
        first = int(np.argmax(bad))
        raise DataError(f"{path} gives NaN or infinite outputs for {int(bad.sum()):,} of {len(out):,} rows "
                        f"(the first is row {first + 1:,}); the inputs are far outside what the model was trained "
                        "on, or its weights overflow")


def run_evaluate(args: argparse.Namespace) -> int:
    from chainrule.train import evaluate, predict

    model, split = _load(args.model)
    args.dtype = str(model.layers()[0][0].weight.data.dtype)
    data = load_data(args, need_train=False, recorded=split)
    _check_features(model, data, args.model)
    x, y = data.test
    with np.errstate(over="ignore", invalid="ignore"):  # overflow shows as inf and is reported below
        _check_finite(predict(model, x), args.model)
    n_out = model.layers()[-1][0].n_out
    if n_out == 1 and _output_name(model) == "identity" and data.n_classes is not None and data.n_classes > 2:
        data.n_classes = None  # one linear output and labels beyond 0/1: a regression model
    loss = choose_loss("auto", model, data.n_classes)
    metric = _metrics(data.n_classes)[0]
    scores = evaluate(model, x, fit_targets(y, loss, n_out, data.n_classes, x.dtype), loss=loss, metrics=(metric,))
    rows = data.rows or f"{len(x):,} samples"
    print(f"{printable(args.model, 200)} on {data.name}, {rows}: {_describe(scores, metric, len(x))}; loss "
          f"function {loss}")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    from chainrule.atomic import check_destination, writing
    from chainrule.train import predict

    if args.out:
        check_destination(args.out, error=ConfigError)  # before reading anything
    model, split = _load(args.model)
    args.dtype = str(model.layers()[0][0].weight.data.dtype)
    data = load_data(args, need_train=False, need_target=args.target is not None, recorded=split, whole_csv=True)
    _check_features(model, data, args.model)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow shows as inf and is reported below
        out = predict(model, data.test[0])
    _check_finite(out, args.model)
    output = _output_name(model)
    if output == "identity" and out.shape[1] > 1:  # logits -> probabilities, shifted by the max for exp's sake
        shifted = np.exp(out - out.max(axis=1, keepdims=True))
        out = shifted / shifted.sum(axis=1, keepdims=True)
    classify = out.shape[1] > 1 or output == "sigmoid"
    if classify:
        labels = out.argmax(axis=1) if out.shape[1] > 1 else (out[:, 0] > 0.5).astype(np.int64)
        header = ["label"] + [f"p_{k}" for k in range(out.shape[1])]
        rows = ([int(label), *(f"{p:.6g}" for p in probs)] for label, probs in zip(labels, out))
    else:
        header = ["prediction"]
        rows = ([f"{v:.8g}"] for v in out[:, 0])
    if not args.out:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        return 0
    with writing(args.out, "w", newline="") as stream:  # atomic: an existing file stays whole on any failure
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    print(f"wrote {len(out):,} predictions to {printable(args.out, 200)}", file=sys.stderr)
    return 0
