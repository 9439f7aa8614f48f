"""Run upstream PilotScope's own PostgreSQL tests against this project, with config-only edits.

    python3 scripts/upstream_tests.py PILOTSCOPE_CHECKOUT [--skip-examples] [--keep]

PILOTSCOPE_CHECKOUT is a checkout of alibaba/pilotscope (or its bare git directory). Its tests are
copied to a temporary folder (never into this project), the config-only edits below are applied and
printed, and each file runs in its own pytest process from its own folder (upstream's tests use
paths relative to it) with this project first on the import path and the embedded server as the
database. The exit status is 0 when every test that ran passed.

Left out, as the parity target leaves them out: Spark (`test_pilotscope/test_spark`,
`test_knob_example_spark.py`) and SSH remote control (`*_remote.py`), which pilotscope does not
offer. `--skip-examples` also leaves out `test_example_algorithms` (they train models: ~20 minutes).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TEST_FOLDERS = ("test_pilotscope/test_pg", "test_example_algorithms")
LEFT_OUT = ("_remote.py", "_spark.py")

# (file, upstream text, replacement): connection settings only. Upstream's dataset test names a server
# at localhost:5432 with user and password "pilotscope"; here the embedded server is the database.
CONFIG_EDITS = (
    ("test_pilotscope/test_pg/skip_test_dataset.py",
     'PostgreSQLConfig(pilotscope_core_host="localhost", db_host="localhost",\n'
     '                                                         db_port="5432", db_user="pilotscope", '
     'db_user_pwd="pilotscope")',
     "PostgreSQLConfig()"),
)


def copy_tests(checkout: Path, target: Path) -> None:
    """Upstream's test folders into `target`, from a working tree or a bare git directory."""
    if (checkout / TEST_FOLDERS[0]).is_dir():
        for folder in TEST_FOLDERS:
            shutil.copytree(checkout / folder, target / folder)
        return
    archive = subprocess.run(["git", f"--git-dir={checkout}", "archive", "HEAD", *TEST_FOLDERS],
                             capture_output=True, check=False)
    if archive.returncode != 0:
        sys.exit(f"{checkout} is neither a PilotScope checkout (no {TEST_FOLDERS[0]}/) nor its git directory: "
                 f"{archive.stderr.decode(errors='replace').strip()}")
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)


def apply_config_edits(target: Path) -> None:
    for relative, old, new in CONFIG_EDITS:
        path = target / relative
        text = path.read_text() if path.exists() else ""
        if old not in text:
            print(f"config edit not applicable (upstream changed?): {relative}", file=sys.stderr)
            continue
        path.write_text(text.replace(old, new))
        print(f"config edit: {relative}: {' '.join(old.split())} -> {new}")


def test_files(target: Path, skip_examples: bool) -> list[Path]:
    folders = TEST_FOLDERS[:1] if skip_examples else TEST_FOLDERS
    return [path for folder in folders for path in sorted((target / folder).glob("*test*.py"))
            if not path.name.endswith(LEFT_OUT) and path.name != "__init__.py"]


def run_file(path: Path) -> tuple[int, int, int]:
    """(passed, failed or errored, skipped) of one test file, run from its folder."""
    report = path.with_suffix(".junit.xml")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))}
    # skip_test_*.py is not a name pytest collects by default, so the file is named; its tests are unittest
    # methods, like all of upstream's, and its module-level test_dataset(ds) is a helper, not a test
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:pilotscope",
                    "-o", "python_files=*.py", "-o", "python_functions=", f"--junitxml={report}", path.name],
                   cwd=path.parent, env=env, check=False)
    if not report.exists():
        return 0, 1, 0
    suite = ElementTree.parse(report).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    total, failed = int(suite.get("tests", 0)), int(suite.get("failures", 0)) + int(suite.get("errors", 0))
    skipped = int(suite.get("skipped", 0))
    return total - failed - skipped, failed, skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", type=Path, help="a checkout of alibaba/pilotscope, or its git directory")
    parser.add_argument("--skip-examples", action="store_true", help="leave out test_example_algorithms")
    parser.add_argument("--keep", action="store_true", help="keep the temporary copy and print where it is")
    args = parser.parse_args(argv)
    target = Path(tempfile.mkdtemp(prefix="pilotscope-upstream-tests-"))
    try:
        copy_tests(args.checkout.resolve(), target)
        apply_config_edits(target)
        results = {path.relative_to(target): run_file(path) for path in test_files(target, args.skip_examples)}
    finally:
        if args.keep:
            print(f"upstream tests kept in {target}")
        else:
            shutil.rmtree(target, ignore_errors=True)
    print("\nupstream PilotScope tests (PostgreSQL, config-only edits):")
    for name, (passed, failed, skipped) in results.items():
        print(f"  {str(name):60} {passed:3} passed {failed:3} failed {skipped:3} skipped")
    passed, failed = sum(r[0] for r in results.values()), sum(r[1] for r in results.values())
    print(f"  {'total':60} {passed:3} passed {failed:3} failed of {passed + failed}")
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
