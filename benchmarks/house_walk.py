"""How far a reader walks through the library to follow one scenario (issue 29's measure).

Runs `toolkit run-scenario` in this process on the embedded sample (a short run of the
given scenario) under `sys.setprofile` and records every call from one library file into
another. The walk is the ordered list of distinct (caller file → callee file) steps, in the
order each first happens; repeated training-loop calls add nothing. It reports:

* files: distinct library files the walk enters;
* steps: distinct caller → callee file pairs;
* climbs: steps whose callee sits in a higher layer than the caller (toolkit > scenarios >
  captioning, recsys > foundation packages such as media), i.e. lower code calling back up;
* returns: steps into a file the walk had already entered by an earlier step (ping-pong).

Usage: python benchmarks/house_walk.py [--root SRC] [--scenario title] [--label NAME]
`--root` points at another source tree (e.g. an exported older commit) to measure it the
same way; its folder goes first on sys.path. Writes benchmarks/results/house_walk.{json,md}
(appending the label's row to what is there).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
RANK = {"toolkit": 4, "scenarios": 3, "captioning": 2, "recsys": 2}


def _library_file(path: str, root: Path) -> str | None:
    try:
        rel = Path(path).resolve().relative_to(root)
    except ValueError:
        return None
    top = rel.parts[0] if rel.parts else ""
    if top in {"tests", "benchmarks", ".venv", "docs"} or rel.suffix != ".py":
        return None
    return rel.as_posix()


def _rank(file: str) -> int:
    return RANK.get(file.split("/", 1)[0], 1)


def trace_walk(root: Path, scenario: str, out: Path) -> list[tuple[str, str]]:
    """Ordered distinct (caller, callee) library-file steps of one short run."""
    from toolkit.cli import app

    steps: dict[tuple[str, str], None] = {}

    def profile(frame, event, arg):  # noqa: ARG001 - sys.setprofile's signature
        if event != "call" or frame.f_back is None:
            return
        callee = _library_file(frame.f_code.co_filename, root)
        caller = _library_file(frame.f_back.f_code.co_filename, root)
        if callee and caller and callee != caller:
            steps.setdefault((caller, callee), None)

    argv = ["run-scenario", scenario, "train.epochs=1", "--out", str(out), "--no-progress"]
    sys.setprofile(profile)
    try:
        app(argv, standalone_mode=False)
    finally:
        sys.setprofile(None)
    return list(steps)


def measure(steps: list[tuple[str, str]]) -> dict[str, int]:
    entered: set[str] = set()
    climbs = returns = 0
    for caller, callee in steps:
        entered.add(caller)
        climbs += _rank(callee) > _rank(caller)
        returns += callee in entered
        entered.add(callee)
    return {"files": len(entered), "steps": len(steps), "climbs": climbs, "returns": returns}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, default=HERE.parent)
    parser.add_argument("--scenario", default="title")
    parser.add_argument("--label", default="now")
    args = parser.parse_args()
    root = args.root.resolve()
    sys.path.insert(0, str(root))
    with tempfile.TemporaryDirectory() as tmp:
        steps = trace_walk(root, args.scenario, Path(tmp) / "run")
    row = {"label": args.label, "scenario": args.scenario, **measure(steps)}
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "house_walk.json"
    rows = (
        [r for r in json.loads(path.read_text()) if r["label"] != args.label]
        if path.exists()
        else []
    )
    rows.append({**row, "walk": [f"{a} -> {b}" for a, b in steps]})
    path.write_text(json.dumps(rows, indent=1) + "\n")
    lines = [
        "# Following one scenario through the library",
        "",
        "`python benchmarks/house_walk.py --label L [--root SRC]`: one `toolkit run-scenario`",
        "(train.epochs=1) on the embedded sample, traced with sys.setprofile; distinct",
        "caller → callee library-file steps in order of first occurrence (see the script).",
        "",
        "| label | scenario | files | steps | climbs | returns |",
        "|---|---|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {r['label']} | {r['scenario']} | {r['files']} | {r['steps']} "
        f"| {r['climbs']} | {r['returns']} |"
        for r in rows
    ]
    (RESULTS / "house_walk.md").write_text("\n".join(lines) + "\n")
    print(json.dumps(row))


if __name__ == "__main__":
    main()
