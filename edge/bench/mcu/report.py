"""edge-bench --mcu's table: one line per CPU and kernel set, then what the figures are."""

from __future__ import annotations

import textwrap


def _yes_no(value: bool | None) -> str:
    return "n/a" if value is None else ("yes" if value else "NO")


def _instructions(row: dict) -> str:
    low, high = row["instructions_min"], row["instructions_max"]
    return f"{low:,}" if low == high else f"{low:,}-{high:,}"


def format_mcu(report: dict) -> str:
    """The report as text: the table, the arena notes and the note on instructions."""
    bundle = report["bundle"]
    frames = len(report["inputs"]["frames"])
    lines = [f"{bundle['path']}: {bundle['classes']} classes, input "
             f"{'x'.join(map(str, bundle['input_shape'][1:]))} {bundle['input_dtype']}, "
             f"arena {bundle['arena_bytes']:,} B (x86-64), {frames} frame(s) from "
             f"{report['inputs']['from']}; {report['toolchain']['compiler']}; "
             f"{report['toolchain']['qemu']}",
             f"{'cpu':<11} {'board':<11} {'kernels':<9} {'bit-identical':>13} "
             f"{'instructions/inference':>25} {'arena used':>10} {'flash':>10} "
             f"{'(.text':>9} {'.rodata)':>9} {'RAM':>9}"]
    for row in report["runs"]:
        lines.append(f"{row['cpu']:<11} {row['board']:<11} {row['kernels']:<9} "
                     f"{_yes_no(row['bit_identical']):>13} {_instructions(row):>25} "
                     f"{row['arena_used_bytes']:>10,} {row['flash_bytes']:>10,} "
                     f"{row['text_bytes']:>9,} {row['rodata_bytes']:>9,} "
                     f"{row['ram_bytes']:>9,}")
    for row in report["runs"]:
        if not row["fits_bundle_arena"]:
            lines.append(f"arena: {row['cpu']} {row['kernels']} needs "
                         f"{row['arena_reserved_bytes']:,} B, "
                         f"{row['arena_reserved_bytes'] - row['bundle_arena_bytes']:,} more "
                         f"than the bundle's kTensorArenaSize; built and measured with "
                         f"{row['arena_reserved_bytes']:,} (reserve that on the device)")
    lines.append(f"bit-identical: the int8 outputs against {report['reference']}")
    lines.append("flash = .text + .rodata + .data (the model included); RAM = .data + .bss "
                 "(the arena included; stack and heap not)")
    lines += textwrap.wrap(f"note: {report['note']}", 100, subsequent_indent="  ")
    return "\n".join(lines)
