"""``chainrule demo``: Mazur's worked example, one step by hand, a net learning XOR, then real digits.

Everything runs offline: the digits are the 8x8 images embedded in chainrule.
"""

from __future__ import annotations

import argparse

import numpy as np

from chainrule import examples, losses
from chainrule.nn import MLP


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="Mazur's worked example, a net learning XOR, and handwritten "
                                   "digits (offline)")
    parser.add_argument("--seed", type=int, default=0, help="seed for the XOR network (default 0)")
    parser.set_defaults(handler=run)


def mazur_one_step(lr: float = 0.5) -> list[str]:
    """Mazur's network before and after one gradient step (his biases stay fixed)."""
    net, x, target = examples.mazur()
    out = net(x)
    error = losses.half_squared_error(out, target)
    error.backward()
    params = dict(net.named_parameters())
    lines = ["Mazur's 2-2-2 sigmoid network, i = (0.05, 0.10), target = (0.01, 0.99)",
             f"  forward:  out_o1 = {out.data[0, 0]:.9f}  out_o2 = {out.data[0, 1]:.9f}",
             f"            E_total = {error.item():.9f}"]
    updated = []
    for name, (param, index) in examples.MAZUR_WEIGHTS.items():
        p = params[param]
        before, grad = p.data[index], p.grad[index]
        updated.append(f"{name} = {before:.2f} - {lr} * {grad:.9f} = {before - lr * grad:.9f}")
    lines.append(f"  one step, learning rate {lr} (dE/dw by backpropagation):")
    lines += ["    " + line for line in updated[4:] + updated[:4]]
    for param, index in examples.MAZUR_WEIGHTS.values():
        params[param].data[index] -= lr * params[param].grad[index]
    lines.append(f"  after the step: E_total = {losses.half_squared_error(net(x), target).item():.9f}")
    lines.append("  (all eight weights updated from one backward pass; the post's 0.291027924 is the")
    lines.append("   sequential variant: chainrule trace --example mazur --update sequential)")
    return lines


def xor_training(seed: int = 0, steps: int = 2000, lr: float = 2.0) -> list[str]:
    """A 2-4-1 network trained on XOR by full-batch gradient descent."""
    x, target = examples.xor()
    net = MLP([2, 4, 1], activation="tanh", output_activation="sigmoid", seed=seed)
    lines = [f"XOR with a 2-4-1 network (tanh, sigmoid output), gradient descent, lr {lr}:"]
    for step in range(steps + 1):
        error = losses.binary_cross_entropy(net(x), target)
        if step % (steps // 4) == 0:
            lines.append(f"  step {step:5d}  E = {error.item():.6f}")
        if step == steps:
            break
        net.zero_grad()
        error.backward()
        for p in net.parameters():
            p.data -= lr * p.grad
    predictions = net(x).data.ravel()
    for xi, ti, pi in zip(x, target.ravel(), predictions):
        lines.append(f"  x = ({xi[0]:.0f}, {xi[1]:.0f})  target {ti:.0f}  output {pi:.4f}")
    correct = int(np.sum((predictions > 0.5) == (target.ravel() > 0.5)))
    lines.append(f"  {correct}/4 correct")
    return lines


def digits_training(seed: int = 0, epochs: int = 20) -> list[str]:
    """A 64-32-10 network trained with :func:`chainrule.train.fit` on the embedded 8x8 digits."""
    from chainrule.datasets import load_digits, split_data
    from chainrule.train import evaluate, fit

    (x_train, y_train), (x_test, y_test) = split_data(*load_digits(), test_fraction=0.25, seed=seed, stratify=True)
    net = MLP([64, 32, 10], activation="relu", seed=seed)
    lines = [f"Handwritten digits (8x8 pixels, {len(x_train):,} training and {len(x_test):,} test images):",
             f"  64-32-10 network (relu hidden, softmax cross-entropy on the logits), Adam, {epochs} epochs"]
    history = fit(net, x_train, y_train, loss="cross_entropy_with_logits", optimizer="adam", lr=0.01,
                  epochs=epochs, batch_size=32, seed=seed, progress=False)
    for epoch in sorted({0, epochs // 4, epochs // 2, epochs - 1}):
        lines.append(f"  epoch {epoch + 1:3d}  E = {history.loss[epoch]:.6f}")
    scores = evaluate(net, x_test, y_test, loss="cross_entropy_with_logits")
    right = round(scores["accuracy"] * len(x_test))
    lines.append(f"  test accuracy {100 * scores['accuracy']:.1f}% ({right} of {len(x_test)} images it never saw)")
    return lines


def run(args: argparse.Namespace) -> int:
    print("\n".join(mazur_one_step()))
    print()
    print("\n".join(xor_training(seed=args.seed)))
    print()
    print("\n".join(digits_training(seed=args.seed)))
    return 0
