"""The sweep as a table and a plot: measured speed here against published accuracy."""

from __future__ import annotations

from pathlib import Path

ALPHA_COLOURS = {1.0: "tab:blue", 0.75: "tab:orange", 0.5: "tab:green", 0.25: "tab:red"}
# (precision, engine): marker; LiteRT runs only the int8 build
MARKERS = {("fp32", "onnxruntime"): "o", ("int8", "onnxruntime"): "s", ("int8", "litert"): "^"}
GROUP_COLOURS = {"depthwise": "tab:red", "pointwise": "tab:blue", "rest": "tab:gray"}


def format_sweep(report: dict) -> str:
    """The sweep table, the Pareto front, the MAC model, int8 vs fp32 and the target answer."""
    env = report["environment"]["before"]
    cpu = env["cpu"]
    settings = report["settings"]
    lines = [f"{cpu['model']}, {env['logical_cpus']} CPUs ({env['physical_cores']} cores), "
             f"{env['machine']} {env['os_bits']}-bit, onnxruntime {env['onnxruntime']}, "
             f"dot-product: {'yes' if cpu['dot_product'] else 'no'} "
             f"({' '.join(cpu['features']) or 'no notable features'}); {settings['threads']} "
             f"thread(s), {settings['runs_per_config']} runs per model in "
             f"{settings['rounds']} interleaved rounds",
             f"note: {report['weights']}"]
    power = report["power"]
    mj_head = "mJ/inf" + ("(est)" if power["estimated"] else "")
    header = (f"{'config':<10}{'prec':<6}{'engine':<13}{'MMACs':>8}{'Mparams':>9}{'p50 ms':>9}"
              f"{'p99 ms':>9}{'FPS':>9}{'CPU-ms':>8}{mj_head:>12}{'MAC-pred':>10}"
              f"{'top-1 %':>9}  Pareto")
    lines += [header, "-" * len(header)]
    for r in report["rows"]:
        lat = r["latency_ms"]
        mj = f"{r['mj_per_inference']:.2f}" if r["mj_per_inference"] is not None else "-"
        top1 = f"{r['top1']:.1f}" if r["top1"] is not None else "-"
        lines.append(f"{r['config']:<10}{r['precision']:<6}{r['engine']:<13}"
                     f"{r['macs'] / 1e6:>8.1f}{r['params'] / 1e6:>9.3f}{lat['p50']:>9.3f}"
                     f"{lat['p99']:>9.3f}{r['fps']:>9.1f}{r['cpu_ms_per_inference']:>8.2f}"
                     f"{mj:>12}{r['predicted_ms']:>10.3f}{top1:>9}  "
                     f"{'*' if r['pareto'] else ''}")
    lines.append("-" * len(header))
    front = sorted((r for r in report["rows"] if r["pareto"]),
                   key=lambda r: r["latency_ms"]["p50"])
    lines.append("Pareto front, fastest first (* above: no other row is both faster and more "
                 "accurate): " + ", ".join(f"{r['config']} {r['precision']} {r['engine']} "
                                           f"({r['latency_ms']['p50']:.2f} ms, {r['top1']:.1f}%)"
                                           for r in front))
    for name, m in report["mac_model"].items():
        lines.append(f"MAC-pred = MACs / {m['gmacs']:.1f} GMAC/s for {name} (fitted to the "
                     f"sweep; single rows run at {m['min_gmacs']:.1f}-{m['max_gmacs']:.1f})")
    lines.extend(_precision_lines(report["comparisons"]))
    if power["method"]:
        lines.append(f"energy by {power['method']}{' (ESTIMATED)' if power['estimated'] else ''}")
    else:
        lines.append("energy: no power reader on this machine (" +
                     "; ".join(f"{k}: {v}" for k, v in power["unavailable"].items()) + ")")
    if report.get("target"):
        lines.append(format_target(report["target"]))
    pub = report["published"]
    lines.append(f"top-1: {pub['title']}, {pub['source']} ({pub['metric']})")
    return "\n".join(lines)


def _precision_lines(comparisons: list[dict]) -> list[str]:
    """int8 against onnxruntime's fp32 of the same configuration, one line per int8 engine."""
    lines = []
    for engine, suffix in (("onnxruntime", ".onnx"), ("LiteRT", ".tflite")):
        group = [c for c in comparisons if c["int8"].endswith(suffix)]
        if not group:
            continue
        faster = [c for c in group if c["int8_faster"]]
        speedups = [c["speedup"] for c in group]
        line = (f"int8 ({engine}) vs fp32 (onnxruntime): int8 faster in {len(faster)} of "
                f"{len(group)} configurations (x{min(speedups):.2f} to x{max(speedups):.2f})")
        slower = [c for c in group if not c["int8_faster"]]
        if slower:
            line += "; SLOWER in " + ", ".join(f"{c['network']} (x{c['speedup']:.2f})"
                                               for c in slower)
        lines.append(line)
    return lines


def format_target(target: dict) -> str:
    """One sentence answering --target-fps."""
    t = target
    late = " (WARNING: over 1% of inferences miss it)" if t["p99_headroom_ms"] < 0 else ""
    if t["met"]:
        return (f"--target-fps {t['target_fps']:g}: {t['config']} {t['precision']} "
                f"({t['engine']}), published top-1 {t['top1']:.1f}%, the most accurate of "
                f"{t['candidates']} that reach it: {t['fps']:.1f} FPS here, {t['margin']:.2f}x "
                f"the target; p99 {t['p99_ms']:.2f} ms of a {t['budget_ms']:.2f} ms frame "
                f"budget{late} (inference alone: capture and preprocessing come on top)")
    return (f"--target-fps {t['target_fps']:g}: NOT reached by any configuration here; the "
            f"fastest, {t['config']} {t['precision']} ({t['engine']}, top-1 {t['top1']:.1f}%), "
            f"runs {t['fps']:.1f} FPS = {t['margin']:.2f}x the target")


def plot(report: dict, target: Path) -> None:
    """Latency against published top-1 (Pareto front drawn, MAC-predicted latency beside the
    measured one), and, when layers were profiled, their share of MACs against time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    rows = report.get("rows") or []
    profiles = report.get("layers") or []
    panels = [p for p in (rows, profiles) if p]
    fig, axes = plt.subplots(1, len(panels), figsize=(9 + 5 * (len(panels) - 1), 6.5),
                             squeeze=False, gridspec_kw={"width_ratios": [9, 5][:len(panels)]})
    if rows:
        env = report["environment"]["before"]
        _plot_sweep(axes[0][0], rows, report, Line2D)
        axes[0][0].set_title(f"MobileNetV1 on {env['cpu']['model'][:48]}, "
                             f"{report['settings']['threads']} thread(s)", fontsize=10)
    if profiles:
        _plot_layers(axes[0][-1], profiles)
    fig.tight_layout()
    fig.savefig(target, dpi=110, bbox_inches="tight", format="png")  # maybe a temporary name
    plt.close(fig)


def _plot_sweep(ax, rows: list[dict], report: dict, line2d) -> None:
    rated = [r for r in rows if r["top1"] is not None]
    for r in rated:
        colour = ALPHA_COLOURS.get(r["alpha"], "black")
        marker = MARKERS.get((r["precision"], r["engine"]), "D")
        x, y = r["latency_ms"]["p50"], r["top1"]
        ax.plot([r["predicted_ms"], x], [y, y], color="0.7", lw=0.8, zorder=1)
        ax.scatter([r["predicted_ms"]], [y], marker=marker, facecolors="none",
                   edgecolors=colour, s=30, zorder=2)
        ax.scatter([x], [y], marker=marker, color=colour, s=36, zorder=3)
        ax.annotate(f"{r['resolution']}", (x, y), textcoords="offset points", xytext=(4, 3),
                    fontsize=6)
    front = sorted((r for r in rated if r["pareto"]), key=lambda r: r["latency_ms"]["p50"])
    if front:
        ax.step([r["latency_ms"]["p50"] for r in front], [r["top1"] for r in front],
                where="post", color="black", lw=1.2, zorder=2)
    target = report.get("target")
    if target:
        ax.axvline(target["budget_ms"], color="tab:purple", ls="--", lw=1)
        # inside the axes, just below the top, clear of the frame and the points' labels
        ax.text(target["budget_ms"], 0.97, f" {target['target_fps']:g} FPS budget",
                transform=ax.get_xaxis_transform(), va="top", ha="left",
                color="tab:purple", fontsize=8, clip_on=True)
    ax.set_xscale("log")
    plain_log_ticks(ax.xaxis)
    ax.set_xlabel("latency per inference, p50 (ms, log scale); measured here, random weights")
    ax.set_ylabel("published ImageNet top-1 (%), TF-slim")
    ax.grid(alpha=0.3, which="both")
    handles = [line2d([], [], marker="o", ls="", color=c, label=f"alpha {a:g}")
               for a, c in ALPHA_COLOURS.items() if any(r["alpha"] == a for r in rated)]
    handles += [line2d([], [], marker=m, ls="", color="0.3", label=f"{p} {e}")
                for (p, e), m in MARKERS.items() if any(r["engine"] == e for r in rated)]
    handles += [line2d([], [], marker="o", ls="", markerfacecolor="none", color="0.3",
                       label="MAC-predicted latency"),
                line2d([], [], color="black", label="Pareto front")]
    ax.legend(handles=handles, fontsize=8, loc="upper left")  # fast and accurate: empty


def _plot_layers(ax, profiles: list[dict]) -> None:
    labels, ticks, y = [], [], 0.0
    for p in profiles:
        for what, key in (("time", "time_share"), ("MACs", "mac_share")):
            left = 0.0
            for group, g in p["groups"].items():
                ax.barh(y, 100 * g[key], left=left, color=GROUP_COLOURS[group],
                        label=group if y == 0 else None)
                if g[key] > 0.06:
                    ax.text(left + 50 * g[key], y, f"{100 * g[key]:.0f}%", ha="center",
                            va="center", fontsize=7, color="white")
                left += 100 * g[key]
            labels.append(f"{p['config']} {p['precision']}: {what}")
            ticks.append(y)
            y += 1
        y += 0.5
    ax.set_yticks(ticks, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 100)
    ax.set_xlabel("share (%)")
    ax.set_title("where the time goes: onnxruntime profiler vs MACs", fontsize=10)
    ax.legend(fontsize=8, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.09))


def plain_log_ticks(axis) -> None:
    """Ticks on a log axis as plain numbers (0.4, 2, 10), not 4x10^-1."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    plain = FuncFormatter(lambda v, _pos: f"{v:g}")
    axis.set_major_formatter(plain)
    axis.set_minor_locator(LogLocator(subs=(2.0, 5.0)))
    axis.set_minor_formatter(plain)
