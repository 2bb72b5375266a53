"""Locust (and gevent, which patches the whole process) stays out of every import path but a locustfile's."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[3] / "xmpp_ext"
FORBIDDEN = ("locust", "gevent", "xmpp_ext.locust")


def imported_names(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def forbidden(name: str) -> bool:
    return any(name == root or name.startswith(root + ".") for root in FORBIDDEN)


@pytest.mark.parametrize("area", ["cli", "load", "pytest_plugin", "session", "jobs", "servers", "util"])
def test_no_module_outside_xmpp_ext_locust_imports_locust_or_gevent(area):
    offenders = {
        str(path.relative_to(PACKAGE.parent)): sorted(filter(forbidden, imported_names(path)))
        for path in (PACKAGE / area).rglob("*.py")
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_check_sees_an_import_of_locust(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from locust import User\n    import gevent.monkey\n")
    assert sorted(filter(forbidden, imported_names(sample))) == ["gevent.monkey", "locust", "locust.User"]


# Every module by its file (pkgutil.walk_packages would import xmpp_ext.locust itself to look inside).
CHECK = """
import importlib, pathlib, sys
import xmpp_ext
root = pathlib.Path(xmpp_ext.__file__).parent
for path in sorted(root.rglob("*.py")):
    parts = path.relative_to(root.parent).with_suffix("").parts
    if parts[1] == "locust" or parts[-1] == "__main__":
        continue
    importlib.import_module(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
print(sorted(name for name in sys.modules if name.split(".")[0] in ("locust", "gevent")))
"""


def test_importing_every_other_module_loads_neither_locust_nor_gevent():
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
