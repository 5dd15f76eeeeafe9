"""Run checkov on infra/ and fail unless every check ran and passed or was waived with a reason.

checkov's exit code alone is not enough: a check that crashes on a resource is logged and left out
of the counts, a file it cannot parse is a "parsing error", and a waiver may carry no reason. This
gate fails on each of those, and prints the waivers so they stay visible in every run.

Usage: python infra/checkov_gate.py --checkov .venv/checkov/bin/checkov infra
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkov", required=True, help="path of the checkov executable")
    parser.add_argument("directory", help="directory holding the Bicep files")
    args = parser.parse_args(argv)
    command = [
        args.checkov, "--directory", args.directory, "--framework", "bicep", "--skip-download",
        "--output", "json", "--compact",
    ]  # fmt: skip
    run = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)  # noqa: S603
    problems: list[str] = []
    if "Failed to run check" in run.stderr or "Traceback" in run.stderr:
        problems.append("a check crashed instead of running:\n" + run.stderr[-3000:])
    try:
        report = json.loads(run.stdout)
    except json.JSONDecodeError:
        print(run.stdout[-3000:], run.stderr[-3000:], sep="\n", file=sys.stderr)
        print("checkov did not produce a JSON report", file=sys.stderr)
        return 2
    if isinstance(report, list):  # one report per framework; only bicep was asked for
        (report,) = report
    summary = report.get("summary", {})
    results = report.get("results", {})
    if summary.get("parsing_errors"):
        problems.append(f"checkov could not parse: {results.get('parsing_errors')}")
    if not summary.get("passed"):
        problems.append("checkov passed no check at all: did it find the Bicep files?")
    for failed in results.get("failed_checks", []):
        problems.append(f"{failed['check_id']} {failed['check_name']}: {failed['resource']} in {failed['file_path']}")
    print(f"checkov {summary.get('checkov_version')}: {summary.get('passed')} passed, "
          f"{summary.get('failed')} failed, {summary.get('skipped')} waived")  # fmt: skip
    for skipped in results.get("skipped_checks", []):
        reason = (skipped.get("check_result") or {}).get("suppress_comment") or ""
        if not reason.strip() or reason == "No comment provided":
            problems.append(f"{skipped['check_id']} on {skipped['resource']} is waived without a reason")
        print(f"  waived {skipped['check_id']} on {skipped['resource']} ({skipped['file_path']}): {reason.strip()}")
    for problem in problems:
        print(f"FAIL {problem}", file=sys.stderr)
    return 1 if problems or run.returncode not in (0, 1) else 0


if __name__ == "__main__":
    sys.exit(main())
