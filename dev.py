#!/usr/bin/env python3
"""Bootstrap for the README's two commands; needs only Python 3.11+.

    python3 dev.py run    # create .venv if needed, then `feedsvc run` on config/
    python3 dev.py test   # create .venv if needed, then the whole test suite

Any other arguments are passed on (``python3 dev.py run --port 8080``,
``python3 dev.py test -k feeds``, ``python3 dev.py feedsvc refresh``).
"""

from __future__ import annotations

import compileall
import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".feedsvc-installed"


def ensure_venv() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 (dev.py may be run by an older python3)
        sys.exit(f"feedsvc needs Python 3.11 or newer (this is {sys.version.split()[0]})")
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text() == want:
        return
    if not (BIN / "python").exists():
        print("dev.py: creating .venv", file=sys.stderr)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("dev.py: installing feedsvc and its pinned dependencies into .venv", file=sys.stderr)
    subprocess.run([str(BIN / "python"), "-m", "pip", "install", "--quiet",
                    "--disable-pip-version-check", "-e", f"{ROOT}[test]"], check=True)
    STAMP.write_text(want)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("run", "test", "feedsvc"):
        print(__doc__, file=sys.stderr)
        return 2
    ensure_venv()
    # feedsvc is installed editable, and pip byte-compiles only what it copies: without
    # this, a machine with PYTHONDONTWRITEBYTECODE=1 (common in containers) compiled all
    # of feedsvc again in every process, 0.2 s of each `feedsvc refresh`. Only stale files
    # are compiled; the check is a stat per module.
    compileall.compile_dir(ROOT / "feedsvc", quiet=1)
    os.chdir(ROOT)
    cmd, rest = argv[0], argv[1:]
    if cmd == "run":
        args = [str(BIN / "feedsvc"), "run", *rest]
    elif cmd == "test":
        args = [str(BIN / "python"), "-m", "pytest", *rest]
    else:
        args = [str(BIN / "feedsvc"), *rest]
    os.execv(args[0], args)
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
