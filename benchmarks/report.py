"""Markdown tables of the measurements, and the targets judged on them."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from benchmarks.configs import flops_per_sample
from benchmarks.measure import MB, ConfigResult, Result

__all__ = ["Target", "config_table", "targets", "targets_table", "memory_lines"]


def _rate(result: Result, samples: int) -> float:
    return samples / result.seconds


def _number(value: float) -> str:
    if not math.isfinite(value):
        return "-"
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _bytes(value: int | None) -> str:
    if value is None:
        return "not traced"
    return f"{value / MB:.1f} MB" if abs(value) >= MB else f"{value / 1024:.1f} KB"


def config_table(cr: ConfigResult, peak: float) -> list[str]:
    """One configuration: speed, GFLOP/s, ratios and memory of every implementation."""
    config = cr.config
    n, flops = config.n_samples, flops_per_sample(config.sizes)
    lines = [f"### {config.title}", ""]
    if not cr.results:
        return lines + ["(nothing ran)", ""]
    unit = "steps/s" if config.batch == 1 else "samples/s"
    ref_label = cr.chainrule.label if cr.chainrule is not None else "chainrule"
    gemm = "sgemm" if config.dtype == "float32" else "dgemm"
    measured = (f"measured after each round: median {statistics.median(cr.round_peaks):.0f} GFLOP/s"
                if cr.round_peaks else f"measured at the start: {peak:.0f} GFLOP/s")
    lines += [f"{gemm} peak {measured}; {flops:,} FLOP per sample in the dense layers; times are medians of "
              f"{len(cr.results[0].times)} alternated epochs, ratios and % of peak the medians of the same "
              "rounds' ratios.", "",
              f"| implementation | s/epoch | {unit} | GFLOP/s | % of peak | {ref_label} ÷ this | "
              "final loss | peak extra memory | retained after epoch |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in cr.results:
        rate = _rate(r, n)
        gflops = rate * flops / 1e9
        share = cr.peak_share(r) if cr.round_peaks else gflops / peak
        lines.append(f"| {r.label} | {r.seconds:.4f} | {_number(rate)} | {gflops:.1f} | {100 * share:.0f}% | "
                     f"{cr.speedup(r):.2f}x | {r.loss:.4g} | {_bytes(r.peak_bytes)} | {_bytes(r.retained_bytes)} |")
    for label, reason in cr.skipped:
        lines.append(f"| {label} | skipped: {reason} | | | | | | | |")
    return lines + [""]


@dataclass
class Target:
    what: str
    measured: str
    met: bool | None  # None: could not be judged (a peer or configuration missing)


def _ratio_target(cr: ConfigResult | None, peer: str, at_least: float, what: str, ours: str | None = None) -> Target:
    """chainrule (fit, or the implementation keyed ``ours``) at least ``at_least`` times as fast as ``peer``."""
    mine = None if cr is None else cr.chainrule if ours is None else cr.get(ours)
    if cr is None or mine is None or cr.get(peer) is None:
        return Target(what, "not measured", None)
    ratio = cr.speedup(cr.get(peer), mine)
    return Target(what, f"{ratio:.2f}x", ratio >= at_least)


def targets(by_key: dict[str, ConfigResult], fit_mem: dict[str, float] | None) -> list[Target]:
    """The speed and memory targets, judged on chainrule fit (the plan loop when fit is missing)."""
    mnist, small, wide, mazur = (by_key.get(k) for k in ("mnist-f32", "small-f32", "wide-f32", "mazur-f64"))
    found = [
        _ratio_target(mnist, "torch", 1.0, "784-256-256-10/128 f32: >= 1.0x PyTorch eager"),
        _ratio_target(mnist, "numpy", 0.95, "784-256-256-10/128 f32: >= 0.95x the NumPy loop"),
        _ratio_target(small, "torch", 2.5, "784-64-64-10/16 f32: >= 2.5x PyTorch eager"),
    ]
    if wide is not None and wide.chainrule is not None and wide.round_peaks:
        share = wide.peak_share(wide.chainrule)
        found.append(Target("784-1024-1024-10/256 f32: >= 70% of the sgemm peak (measured in each round)",
                            f"{100 * share:.0f}%", share >= 0.7))
    else:
        found.append(Target("784-1024-1024-10/256 f32: >= 70% of the sgemm peak", "not measured", None))
    if mazur is not None and mazur.chainrule is not None:
        rate = mazur.config.n_samples / mazur.chainrule.seconds
        found.append(Target("Mazur 2-2-2 per sample f64: >= 40,000 steps/s", f"{rate:,.0f} steps/s", rate >= 40000))
    else:
        found.append(Target("Mazur 2-2-2 per sample f64: >= 40,000 steps/s", "not measured", None))
    found += [_ratio_target(mazur, "torch", 3.0, "Mazur f64: >= 3x PyTorch eager"),
              _ratio_target(mazur, "micrograd", 5.0, "Mazur f64: >= 5x micrograd")]
    for key, cr in by_key.items():
        found.append(_ratio_target(cr, "sklearn", 2.0, f"{key}: chainrule fit >= 2x scikit-learn"))
        found.append(_ratio_target(cr, "sklearn", 2.0, f"{key}: chainrule.sklearn >= 2x scikit-learn",
                                   ours="chainrule_sklearn"))
    # Judged on the plan loop, which runs its steps in one long-lived plan; each fit call
    # builds a fresh plan whose gradient arrays (one model's worth) outlive the call.
    retained = [(key, cr.get("chainrule_plan").retained_bytes) for key, cr in by_key.items()
                if cr.get("chainrule_plan") is not None and cr.get("chainrule_plan").retained_bytes is not None]
    if retained:
        worst_key, worst = max(retained, key=lambda kv: kv[1])
        found.append(Target("no allocation growing with the steps (plan loop: memory retained after an "
                            "epoch < 64 KB)", f"at most {_bytes(worst)} ({worst_key})", worst < 64 * 1024))
    if fit_mem is not None:
        found.append(Target("MNIST-sized fit (60,000 x 784 f32): extra peak <= 3x model + 50 MB "
                            f"= {_bytes(int(fit_mem['budget']))}", _bytes(int(fit_mem["peak"])),
                            fit_mem["peak"] <= fit_mem["budget"]))
    return found


def targets_table(found: list[Target]) -> list[str]:
    lines = ["| target | measured | met |", "|---|---:|:---:|"]
    for t in found:
        lines.append(f"| {t.what} | {t.measured} | {'-' if t.met is None else 'yes' if t.met else '**no**'} |")
    return lines + [""]


def memory_lines(fit_mem: dict[str, float]) -> list[str]:
    return [f"MNIST-sized fit, one epoch, 784-256-256-10 float32, batch 128 (tracemalloc, allocations made "
            f"during fit): data {_bytes(int(fit_mem['data']))} (exists before fit), model "
            f"{_bytes(int(fit_mem['model']))}, peak extra {_bytes(int(fit_mem['peak']))}, still held after fit "
            f"{_bytes(int(fit_mem['retained']))}; budget 3 x model + 50 MB = {_bytes(int(fit_mem['budget']))}.", ""]
