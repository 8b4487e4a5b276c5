"""Generate the README's supported-ops table from the op registry, so it cannot drift.

python tools/ops_table.py            # print the table
python tools/ops_table.py --write    # replace the table in README.md
python tools/ops_table.py --check    # exit 1 if README.md's table is out of date
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from maku.ir.ops import ONNX_OPS, OPS

README = Path(__file__).resolve().parent.parent / "README.md"
BEGIN, END = "<!-- ops-table:begin (tools/ops_table.py) -->", "<!-- ops-table:end -->"
IMPORT_ONLY = {
    "Constant": "becomes a graph constant at import (value, value_float(s), value_int(s), sparse_value)"
}
# what users need to know beyond the attribute list (the importer's limits and opset forms)
NOTES = {
    **{op: "NumPy-style broadcasting" for op in ("Add", "Sub", "Mul", "Div")},
    "Pad": "constant mode only; pads as attribute (opset < 11) or input",
    "AveragePool": "2-D; ceil_mode and count_include_pad",
    "Clip": "min/max as attributes (opset < 11) or inputs",
    "Conv": "2-D; any groups (depthwise too), dilations, strides, explicit/asymmetric pads, SAME_UPPER/LOWER, VALID",
    "MaxPool": "2-D; no Indices output",
    "ReduceMean": "axes as attribute or input (opset 18)",
    "Softmax": "pre- and post-opset-13 axis semantics",
    "Squeeze": "axes as attribute or input (opset 13)",
    "Unsqueeze": "axes as attribute or input (opset 13)",
    "Slice": "starts/ends/axes/steps as inputs or attributes (opset < 10)",
}


def attribute_list(op: str) -> str:
    """`name=default`, `name` where ONNX's default depends on the input, `name` (required)."""
    parts = []
    for name, default in OPS[op].attrs.items():
        if name == "legacy":  # set by the importer, not an ONNX attribute
            continue
        if type(default) is object:  # the registry's sentinel for a required attribute
            parts.append(f"`{name}` (required)")
        else:
            parts.append(f"`{name}`" if default is None else f"`{name}={default}`")
    return ", ".join(parts)


def ops_table() -> str:
    """The markdown table: one row per ONNX op maku imports."""
    rows = ["| ONNX op | attributes (default) | notes |", "|---|---|---|"]
    for op in sorted([*ONNX_OPS, *IMPORT_ONLY]):
        if op in IMPORT_ONLY:
            rows.append(f"| {op} | | {IMPORT_ONLY[op]} |")
        else:
            rows.append(f"| {op} | {attribute_list(op)} | {NOTES.get(op, '')} |")
    return "\n".join(rows)


def replace_table(text: str, table: str) -> str:
    """`text` with the part between the markers replaced by `table`."""
    head, begin, rest = text.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise SystemExit(f"{README}: the markers {BEGIN!r} ... {END!r} are missing")
    return f"{head}{BEGIN}\n{table}\n{END}{tail}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="update README.md in place")
    mode.add_argument("--check", action="store_true", help="exit 1 if README.md is out of date")
    args = parser.parse_args()
    table = ops_table()
    if not (args.write or args.check):
        print(table)
        return 0
    text = README.read_text(encoding="utf-8")
    updated = replace_table(text, table)
    if args.check:
        if updated != text:
            print(
                "README.md's ops table is out of date: run python tools/ops_table.py --write", file=sys.stderr
            )
            return 1
        return 0
    README.write_text(updated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
