"""``chainrule train / evaluate / predict``, the extended demo, and the real-data benchmark's smoke run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from chainrule.cli import build_parser, main
from chainrule.cli.training import train_from_args

ROOT = Path(__file__).resolve().parents[1]


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _accuracy(text: str) -> float:
    return float(re.search(r"test accuracy ([\d.]+)%", text).group(1)) / 100


def _write_iris(path: Path) -> tuple[np.ndarray, np.ndarray]:
    datasets = pytest.importorskip("sklearn.datasets")
    iris = datasets.load_iris()
    with open(path, "w") as f:
        f.write("sepal_length,sepal_width,species,petal_length,petal_width\n")
        for row, label in zip(iris.data, iris.target):
            f.write(f"{row[0]},{row[1]},{label},{row[2]},{row[3]}\n")
    return iris.data, iris.target


def test_train_digits_table_and_reported_accuracy(capsys):
    args = build_parser().parse_args(["train", "--dataset", "digits", "--hidden", "32", "--epochs", "8",
                                      "--lr", "0.01", "--seed", "3"])
    result = train_from_args(args)
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if re.match(r"\s+\d+\s", line)]
    assert len(rows) == 8 and len(result.epochs) == 8
    # The printed accuracy is the share of test images whose largest output is the true digit.
    x_test, y_test = result.data.test
    net_out = result.model(x_test).data
    assert _accuracy(out) == pytest.approx(np.mean(net_out.argmax(axis=1) == y_test), abs=5e-5)
    assert _accuracy(out) > 0.9
    assert result.model.sizes == [64, 32, 10] and result.loss == "cross_entropy_with_logits"


def test_train_real_mnist_one_epoch(shared_data, capsys):
    code, out, _ = _run(capsys, "train", "--data", str(shared_data), "--layers", "784,30,10", "--epochs", "1",
                        "--batch-size", "100", "--lr", "0.003")
    assert code == 0 and "60,000 training and 10,000 test samples, 784 features, 10 classes" in out
    assert _accuracy(out) > 0.9


def test_train_csv_with_named_target_and_one_hot_sigmoid_outputs(tmp_path, capsys):
    x, y = _write_iris(tmp_path / "iris.csv")
    code, out, _ = _run(capsys, "train", "--csv", str(tmp_path / "iris.csv"), "--target", "species",
                        "--hidden", "16", "--activation", "tanh", "--output-activation", "sigmoid",
                        "--loss", "half_squared_error", "--optimizer", "adam", "--lr", "0.01", "--epochs", "100",
                        "--batch-size", "8", "--dtype", "float64", "--test-fraction", "0.3")
    assert code == 0
    assert "105 training and 45 test samples, 4 features, 3 classes" in out
    assert _accuracy(out) > 0.9


def test_train_csv_regression_reports_r2(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3))
    y = x @ np.array([1.5, -2.0, 0.5]) + 0.3
    np.savetxt(tmp_path / "r.csv", np.column_stack([x, y]), delimiter=",", header="a,b,c,y", comments="")
    np.savetxt(tmp_path / "t.csv", np.column_stack([x[:50], y[:50]]), delimiter=",", header="a,b,c,y", comments="")
    code, out, _ = _run(capsys, "train", "--csv", str(tmp_path / "r.csv"), "--test-csv", str(tmp_path / "t.csv"),
                        "--hidden", "none", "--optimizer", "sgd", "--lr", "0.05", "--epochs", "40",
                        "--dtype", "float64")
    assert code == 0 and "regression" in out
    r2 = float(re.search(r"test r2 ([\d.]+)", out).group(1))
    assert r2 > 0.999


def test_train_toy_set_with_validation_split_and_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    code, out, _ = _run(capsys, "train", "--dataset", "moons", "--samples", "200", "--layers", "2,8,1",
                        "--epochs", "3", "--validation-split", "0.25", "--plot", str(tmp_path / "c.png"))
    assert code == 0 and "val acc" in out and "binary_cross_entropy_with_logits" in out
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("argv, pattern", [
    (["train", "--csv", "absent.csv"], r"absent.csv: CSV file not found"),
    (["train", "--data", "no/such/folder"], r"MNIST files .* not found; looked in: no/such/folder/mnist"),
    (["train", "--dataset", "digits", "--layers", "64,x,10"], r"--layers: expected positive integers"),
    (["train", "--dataset", "digits", "--layers", "784,30,10"], r"--layers starts with 784 inputs, but digits has 64"),
    (["train", "--dataset", "digits", "--layers", "64,30,3"], r"--layers ends with 3 outputs, but digits has 10"),
    (["train", "--dataset", "digits", "--activation", "swish"], r"--activation: unknown activation 'swish'"),
    (["train", "--dataset", "digits", "--output-activation", "max"], r"--output-activation: unknown activation"),
    (["train", "--dataset", "digits", "--loss", "hinge"], r"unknown loss 'hinge'"),
    (["train", "--dataset", "digits", "--optimizer", "lbfgs"], r"unknown optimizer 'lbfgs'"),
    (["train", "--dataset", "digits", "--epochs", "-1"], r"--epochs must be >= 0"),
    (["train", "--dataset", "imagenet"], r"invalid choice: 'imagenet'"),
    (["train", "--hidden", "30"], r"one of the arguments --data --csv --dataset is required"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, argv, pattern):
    code, out, err = _run(capsys, *argv)
    assert code == 2
    assert re.search(pattern, err), err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_bad_csv_row_through_the_real_command(tmp_path):
    (tmp_path / "bad.csv").write_text("a,b,y\n1,2,0\n3,4\n")
    result = subprocess.run([sys.executable, "-m", "chainrule", "train", "--csv", str(tmp_path / "bad.csv")],
                            capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("chainrule: error:") and "line 3: 2 fields, expected 3" in result.stderr
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def test_demo_ends_with_digits_offline(capsys, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("the demo must not reach for the network")

    monkeypatch.setattr("urllib.request.urlopen", no_network)
    code, out, _ = _run(capsys, "demo")
    assert code == 0
    assert out.index("Mazur") < out.index("XOR") < out.index("Handwritten digits")
    match = re.search(r"test accuracy ([\d.]+)% \((\d+) of (\d+)", out)
    # A quarter of each digit's images held out, rounded up: sum(ceil(n / 4)) over the ten classes.
    counts = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]  # sklearn's digits documentation
    assert float(match.group(1)) > 90 and int(match.group(3)) == sum(-(-n // 4) for n in counts)


def test_real_data_benchmark_smoke(shared_data):
    result = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "real_data.py"), "--smoke", "--only", "a",
                             "--data", str(shared_data)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Smoke run (not results)" in result.stdout
    assert "chainrule train --data" in result.stdout and "--epochs 1" in result.stdout
    row = next(line for line in result.stdout.splitlines() if line.startswith("| (a)"))
    assert float(re.search(r"\| ([\d.]+)% \|", row).group(1)) > 50


# ----------------------------------------------------------------------------- evaluate and predict
@pytest.fixture
def digits_model(tmp_path, capsys) -> Path:
    path = tmp_path / "digits.safetensors"
    code, out, _ = _run(capsys, "train", "--dataset", "digits", "--hidden", "32", "--epochs", "6", "--lr", "0.01",
                        "--out", str(path))
    assert code == 0 and path.is_file()
    path.with_suffix(".txt").write_text(out)
    return path


def test_evaluate_repeats_the_test_accuracy_train_reported(digits_model, capsys):
    trained = _accuracy(digits_model.with_suffix(".txt").read_text())
    code, out, _ = _run(capsys, "evaluate", str(digits_model), "--dataset", "digits")
    assert code == 0
    assert float(re.search(r"accuracy ([\d.]+)%", out).group(1)) / 100 == pytest.approx(trained, abs=5e-5)


def test_predict_csv_labels_and_probabilities(digits_model, tmp_path, capsys):
    datasets = pytest.importorskip("sklearn.datasets")
    reference = datasets.load_digits()
    features = reference.data[:40] / 16.0
    np.savetxt(tmp_path / "x.csv", np.column_stack([features, reference.target[:40]]), delimiter=",",
               header=",".join([f"p{i}" for i in range(64)] + ["digit"]), comments="")
    out_csv = tmp_path / "pred.csv"
    code, _, err = _run(capsys, "predict", str(digits_model), "--csv", str(tmp_path / "x.csv"), "--target", "digit",
                        "--out", str(out_csv))
    assert code == 0 and "wrote 40 predictions" in err
    table = np.genfromtxt(out_csv, delimiter=",", names=True)
    assert table.dtype.names == ("label", *(f"p_{k}" for k in range(10)))
    probabilities = np.column_stack([table[f"p_{k}"] for k in range(10)])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(table["label"], probabilities.argmax(axis=1))
    # The labels are the saved network's: softmax of its logits, computed here with NumPy alone.
    import chainrule

    logits = chainrule.load(digits_model)(features.astype(np.float32)).data
    np.testing.assert_array_equal(table["label"], logits.argmax(axis=1))
    assert np.mean(table["label"] == reference.target[:40]) > 0.8


def test_predict_writes_csv_to_stdout(digits_model, capsys):
    code, out, _ = _run(capsys, "predict", str(digits_model), "--dataset", "digits")
    lines = out.splitlines()
    counts = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]  # the digits' classes; a fifth of each held out
    assert code == 0 and lines[0].startswith("label,p_0,") and len(lines) == 1 + sum(-(-n // 5) for n in counts)


def test_feature_count_mismatch_is_one_line(digits_model, tmp_path, capsys):
    (tmp_path / "wide.csv").write_text("a,b,c\n1,2,3\n")
    for command in ("evaluate", "predict"):
        code, _, err = _run(capsys, command, str(digits_model), "--csv", str(tmp_path / "wide.csv"))
        assert code == 2 and "expects 64 features per sample" in err and err.count("\n") == 1


def test_evaluate_refuses_a_file_that_is_not_a_model(tmp_path, capsys):
    (tmp_path / "fake.safetensors").write_bytes(b"\x80\x04not a model")
    code, _, err = _run(capsys, "evaluate", str(tmp_path / "fake.safetensors"), "--dataset", "digits")
    assert code == 2 and "pickle" in err and "Traceback" not in err
    code, _, err = _run(capsys, "evaluate", str(tmp_path / "absent.safetensors"), "--dataset", "digits")
    assert code == 2 and "absent.safetensors" in err


def test_demo_prints_mazurs_published_step_and_names_the_sequential_variant(capsys):
    code, out, _ = _run(capsys, "demo")
    assert code == 0
    for published in ("E_total = 0.298371109", "= 0.358916480", "= 0.408666186", "= 0.511301270",
                      "= 0.561370121", "= 0.149780716", "= 0.199561432", "= 0.249751144", "= 0.299502287"):
        assert published in out
    assert "after the step: E_total = 0.291027774" in out
    assert "0.291027924 is the" in out and "--update sequential" in out


@pytest.mark.parametrize("argv", [["demo"], ["trace", "--example", "mazur", "--steps", "20000"]])
def test_a_reader_that_closes_the_pipe_ends_the_command_quietly(argv):
    # `chainrule ... | head`: the reader goes away before the command has written its output.
    child = subprocess.Popen([sys.executable, "-m", "chainrule", *argv], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    child.stdout.close()
    _, err = child.communicate(timeout=120)
    assert child.returncode == 141
    assert b"Traceback" not in err and b"Exception ignored" not in err and err == b""
