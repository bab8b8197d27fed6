"""The `zoo` command line.

    zoo list [PATTERN] [--markdown]  the registered models, with size and cost
    zoo info NAME [--json]           one model's facts and measured results

Bad input gets a one-line error on stderr and a non-zero exit status. The
console script enters through `zoo_cli`, which keeps TensorFlow's start-up
logging off the terminal.
"""

from __future__ import annotations

import argparse
import json
import os
import sys


def _format_count(n: int) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(n)


def _top1(measured: dict) -> str:
    accuracy = measured.get("accuracy", {})
    return ", ".join(f"{v['top1']:.2%} ({k})" for k, v in accuracy.items()) or "-"


def cmd_list(args) -> int:
    import zoo

    names = zoo.list_models(args.pattern)
    if not names:
        raise ValueError(
            f"No model matches the pattern. Received: pattern={args.pattern!r}"
        )
    header = ("model", "input", "params", "FLOPs", "weights", "top-1 (measured)")
    rows = []
    for name in names:
        info = zoo.model_info(name)
        rows.append((
            name,
            "x".join(map(str, info["input_shape"])),
            _format_count(info["params"]),
            _format_count(info["flops"]),
            ", ".join(info["pretrained"]) or "-",
            _top1(info["measured"]),
        ))
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + " --- |" * len(header))
        for row in rows:
            print("| " + " | ".join(row) + " |")
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(*header)
    for row in rows:
        table.add_row(*row)
    Console().print(table)
    return 0


def cmd_info(args) -> int:
    import zoo

    info = zoo.model_info(args.name)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    for key, value in info.items():
        if key == "measured":
            value = json.dumps(value) if value else "none recorded yet"
        print(f"{key:>16}: {value}")
    return 0


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="zoo", description="keras-zoo: convnet factories and recipes.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("list", help="list the registered models")
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern (default: *)")
    p.add_argument("--markdown", action="store_true", help="print a Markdown table")
    p.set_defaults(run=cmd_list)

    p = commands.add_parser("info", help="describe one model")
    p.add_argument("name", help="a model name from `zoo list`")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(run=cmd_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs the command line; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, OSError) as e:
        print(f"zoo: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("zoo: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
