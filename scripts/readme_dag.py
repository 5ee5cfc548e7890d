#!/usr/bin/env python
"""Redraw the README's DAG from the workflow itself: `snakemake --rulegraph mermaid-js` on the
default config, written between the README's `<!-- dag:begin -->` / `<!-- dag:end -->` markers.

    python scripts/readme_dag.py            # rewrite README.md
    python scripts/readme_dag.py --check    # exit 1 if README.md is out of date (tests/test_workflow.py)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- dag:begin -->", "<!-- dag:end -->"


def rulegraph() -> str:
    out = subprocess.run([sys.executable, "-m", "snakemake", "--rulegraph", "mermaid-js", "--cores", "1"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300, check=True).stdout
    lines = [line.strip() for line in out[out.index("flowchart"):].splitlines() if line.strip()]
    # Snakemake lists the edges in set order: sort them so the drawing only changes with the workflow.
    edges = sorted((line for line in lines if "-->" in line),
                   key=lambda e: [int(part.strip()[2:]) for part in e.split("-->")][::-1])
    body = "\n".join([lines[0]] + ["  " + line for line in lines[1:] if "-->" not in line] + ["  " + e for e in edges])
    return f"{BEGIN}\n```mermaid\n{body}\n```\n{END}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Redraw the README's DAG from the workflow.")
    parser.add_argument("--check", action="store_true", help="fail if README.md is out of date")
    args = parser.parse_args(argv)
    readme = ROOT / "README.md"
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        sys.exit(f"{readme}: no {BEGIN} ... {END} block to fill")
    start, stop = text.index(BEGIN), text.index(END) + len(END)
    new = text[:start] + rulegraph() + text[stop:]
    if args.check:
        if new != text:
            print("README.md's DAG is out of date: run `python scripts/readme_dag.py`", file=sys.stderr)
            return 1
        return 0
    readme.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
