"""chainrule.sklearn.MLPClassifier against scikit-learn's on the digits: accuracy and fit time.

Both estimators get the same settings and random_state on scikit-learn's ``load_digits``
(pixels / 16), split once (25 % test, stratified, random_state=0). Fits alternate
(scikit-learn, chainrule, scikit-learn, ...) so that load on the machine hits both alike;
the table shows the median fit time, the test accuracy and how far the weights are apart.
BLAS runs on ``--threads`` threads (1 by default: on a shared machine, multithreaded BLAS
times mostly measure the contention).

    python benchmarks/sklearn_digits.py [--repeats 5] [--solvers adam,sgd,lbfgs] [--max-iter 200]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="fits per estimator and solver (default 5)")
    parser.add_argument("--solvers", default="adam,sgd,lbfgs", help="comma-separated (default adam,sgd,lbfgs)")
    parser.add_argument("--max-iter", type=int, default=200, help="max_iter (default 200, scikit-learn's)")
    parser.add_argument("--hidden", type=int, default=100, help="neurons in the hidden layer (default 100)")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    args = parser.parse_args()

    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier as SklearnMLP
    from threadpoolctl import threadpool_limits

    from chainrule.sklearn import MLPClassifier as ChainruleMLP

    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(x / 16.0, y, test_size=0.25, random_state=0, stratify=y)
    print(f"digits: {len(x_train)} training and {len(x_test)} test samples, 64 features, 10 classes; "
          f"hidden_layer_sizes=({args.hidden},), max_iter={args.max_iter}, random_state=0, "
          f"{args.threads} BLAS thread(s), median of {args.repeats} alternated fits\n")
    header = (f"{'solver':<7}{'sklearn acc':>12}{'chainrule acc':>15}{'diff (pts)':>11}{'sklearn s':>11}"
              f"{'chainrule s':>13}{'ratio':>7}{'n_iter':>9}{'max |dW|':>11}")
    print(header)
    print("-" * len(header))
    with threadpool_limits(args.threads), warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        for solver in args.solvers.split(","):
            params = dict(hidden_layer_sizes=(args.hidden,), solver=solver, max_iter=args.max_iter, random_state=0)
            times: dict[str, list[float]] = {"sklearn": [], "chainrule": []}
            models = {}
            for _ in range(args.repeats):
                for name, cls in (("sklearn", SklearnMLP), ("chainrule", ChainruleMLP)):
                    start = time.perf_counter()
                    models[name] = cls(**params).fit(x_train, y_train)
                    times[name].append(time.perf_counter() - start)
            ref, ours = models["sklearn"], models["chainrule"]
            acc_ref, acc_ours = ref.score(x_test, y_test), ours.score(x_test, y_test)
            gap = max(float(np.max(np.abs(a - b))) for a, b in zip(ours.coefs_ + ours.intercepts_,
                                                                      ref.coefs_ + ref.intercepts_))
            t_ref, t_ours = statistics.median(times["sklearn"]), statistics.median(times["chainrule"])
            print(f"{solver:<7}{acc_ref:>12.4f}{acc_ours:>15.4f}{100 * (acc_ours - acc_ref):>11.2f}{t_ref:>11.3f}"
                  f"{t_ours:>13.3f}{t_ours / t_ref:>7.2f}{f'{ref.n_iter_}/{ours.n_iter_}':>9}{gap:>11.1e}")


if __name__ == "__main__":
    main()
