"""Speed benchmarks: chainrule against PyTorch, scikit-learn, a hand-written NumPy loop and micrograd.

Run ``python -m benchmarks`` from the repository root (``--help`` for the options).
One process times every implementation on the same seeded synthetic data, running
them in turn (A B C A B C ...) and reporting medians, so a busy machine slows them
alike and the ratios stay meaningful. BENCHMARKS.md holds the results and how to
read them.

Modules: :mod:`.configs` (what is measured), :mod:`.machine` (CPU, BLAS, the sgemm
peak), :mod:`.peer_chainrule`, :mod:`.peer_numpy` and :mod:`.peer_others` (one class
per implementation), :mod:`.measure` (timing and memory), :mod:`.report` (tables and
targets), :mod:`.runner` (the command line).
"""
