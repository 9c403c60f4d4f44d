"""int8 against fp32 on held-out frames: top-1 agreement, top-5 overlap, logit cosine."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.engine import Engine
from edge.postprocess import top_k


def compare(fp32: Path, int8: Path, cases: list[tuple[str, np.ndarray]]) -> dict:
    """Run both models on every (name, tensor) case and summarise how far int8 strays."""
    a, b = Engine(fp32, threads=1, warmup=False), Engine(int8, threads=1, warmup=False)
    rows = []
    for name, tensor in cases:
        la, lb = a.run(tensor), b.run(tensor)
        ta = [i for i, _ in top_k(la, 5)]
        tb = [i for i, _ in top_k(lb, 5)]
        cos = float(np.dot(la, lb) / (np.linalg.norm(la) * np.linalg.norm(lb) + 1e-12))
        rows.append({"case": name, "fp32_top1": ta[0], "int8_top1": tb[0],
                     "top1_agree": ta[0] == tb[0], "top5_overlap": len(set(ta) & set(tb)) / 5,
                     "cosine": round(cos, 6)})
    n = len(rows)
    agree = sum(r["top1_agree"] for r in rows)
    return {
        "cases": n,
        "top1_agree": agree,
        "top1_agreement": agree / n if n else None,
        "top5_overlap": float(np.mean([r["top5_overlap"] for r in rows])) if n else None,
        "cosine_mean": float(np.mean([r["cosine"] for r in rows])) if n else None,
        "cosine_min": float(np.min([r["cosine"] for r in rows])) if n else None,
        "per_case": rows,
    }
