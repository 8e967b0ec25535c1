"""chainrule three ways: ``fit``, the captured plan's step loop, and the scikit-learn drop-in."""

from __future__ import annotations

import numpy as np

import chainrule as cr
from benchmarks.configs import Config, Data, build_model, loss_name
from benchmarks.peers import PartialFitPeer, Peer, UnavailableError, sgd_estimator_settings

__all__ = ["ChainruleFit", "ChainrulePlan", "ChainruleSklearn"]


class ChainruleFit(Peer):
    key = "chainrule_fit"
    label = "chainrule fit"
    note = "`chainrule.train.fit(..., epochs=1)`: validates X and y, shuffles, runs the captured plan, SGD"
    chainrule = True

    def __init__(self, config: Config, data: Data, seed: int = 0) -> None:
        super().__init__(config, data, seed)
        try:
            from chainrule.train import fit
        except ImportError as error:
            raise UnavailableError(f"chainrule.train is not importable ({error})") from None
        self.fit = fit
        self.model = build_model(config, seed)
        self.optimizer = cr.optim.SGD(self.model, lr=config.lr)

    def epoch(self) -> float:
        history = self.fit(self.model, self.data.x, self.data.target, loss=loss_name(self.config),
                           optimizer=self.optimizer, epochs=1, batch_size=self.config.batch, shuffle=True,
                           seed=self.rng, progress=False)
        return history.loss[-1]


class ChainrulePlan(Peer):
    key = "chainrule_plan"
    label = "chainrule plan loop"
    note = "`compile_plan(model, loss).loss_and_grad` + `optim.SGD.step()` in a bare loop (no `fit` around it)"
    chainrule = True

    def __init__(self, config: Config, data: Data, seed: int = 0) -> None:
        super().__init__(config, data, seed)
        from chainrule.plan import compile_plan

        self.model = build_model(config, seed)
        self.plan = compile_plan(self.model, loss_name(config))
        if self.plan is None:
            raise UnavailableError("compile_plan returned None")
        self.optimizer = cr.optim.SGD(self.model, lr=config.lr)

    def epoch(self) -> float:
        order = self.rng.permutation(len(self.data.x))
        x, target = self.data.x[order], self.data.target[order]
        step, update, batch, n = self.plan.loss_and_grad, self.optimizer.step, self.config.batch, len(x)
        total = 0.0
        for lo in range(0, n, batch):
            hi = min(lo + batch, n)
            total += step(x[lo:hi], target[lo:hi]) * (hi - lo)
            update()
        return total / n


class ChainruleSklearn(PartialFitPeer):
    key = "chainrule_sklearn"
    label = "chainrule.sklearn"
    note = "the scikit-learn drop-in, `partial_fit` = one epoch, same settings as scikit-learn's"
    chainrule = True

    def __init__(self, config: Config, data: Data, seed: int = 0) -> None:
        super().__init__(config, data, seed)
        try:
            from chainrule.sklearn import MLPClassifier, MLPRegressor
        except ImportError as error:
            raise UnavailableError(f"chainrule.sklearn is not importable ({error})") from None
        common = sgd_estimator_settings(config, seed)
        try:
            if config.task == "mazur":
                self.estimator = MLPRegressor(activation="logistic", output_activation="logistic",
                                              loss="half_squared_error", **common)
                self.classes = None
            else:
                self.estimator = MLPClassifier(activation="relu", **common)
                self.classes = np.arange(config.sizes[-1])
            self.epoch()  # fails here, not in the timed runs, if the settings are refused
        except Exception as error:
            raise UnavailableError(f"chainrule.sklearn refused the settings: {type(error).__name__}: {error}") from None
