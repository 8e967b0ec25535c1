"""Learner tools: trace, explain and check chain-rule derivations on small networks.

They read the engine's graph (each layer's tagged net and out tensors), its op and
loss definitions (f', the loss gradient, their formulas) and its ``backward()``;
they never define a derivative of their own. See README.md in this package.

Everything here needs NumPy alone; ``check`` reads formulas with its own bounded parser.
"""

from chainrule.learn.check import Verdict, check
from chainrule.learn.conventions import PRESETS, Convention
from chainrule.learn.descent import Descent, gradient_descent
from chainrule.learn.explain import Derivation, explain
from chainrule.learn.naming import Names
from chainrule.learn.rule import RuleVerdict, check_rule
from chainrule.learn.trace import Trace, trace

__all__ = ["trace", "Trace", "explain", "Derivation", "check", "Verdict", "check_rule", "RuleVerdict",
           "gradient_descent", "Descent", "Convention", "PRESETS", "Names"]
