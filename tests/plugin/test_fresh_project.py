"""What a user does: a fresh project outside this repository, ``pip install xmppext``, the README's test.

The project is a temp dir with one test file and the README's pytest.ini,
and its own virtualenv holding a regular (not editable) install of this
package: the plugin must arrive through the pytest11 entry point alone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.plugin.readme_example import EXAMPLE_NAME, REPO, example_ini, example_test

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

INSTALL_TIMEOUT = 300
RUN_TIMEOUT = 180


def run(command: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    # The user's environment, without this suite's settings or paths.
    env = {key: value for key, value in os.environ.items() if not key.startswith(("XMPPEXT_", "PYTEST_", "PYTHON"))}
    return subprocess.run(
        command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def fresh_project(tmp_path_factory) -> Path:
    project = tmp_path_factory.mktemp("fresh-project")
    assert REPO not in project.parents
    # The package's sources, copied: pip builds in the source tree and would leave build/ in the repository.
    source = tmp_path_factory.mktemp("xmppext-source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(REPO / "xmpp_ext", source / "xmpp_ext", ignore=shutil.ignore_patterns("__pycache__"))
    created = run([sys.executable, "-m", "venv", "venv"], project, INSTALL_TIMEOUT)
    assert created.returncode == 0, created.stderr
    python = str(project / "venv" / "bin" / "python")
    installed = run(
        [python, "-m", "pip", "install", "--quiet", f"{source}[pytest]", "pytest-xdist>=3.5"], project, INSTALL_TIMEOUT
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    (project / "pytest.ini").write_text(example_ini())
    (project / "tests").mkdir()
    (project / "tests" / EXAMPLE_NAME).write_text(example_test())
    return project


def test_the_package_comes_from_the_fresh_virtualenv(fresh_project):
    where = "import xmpp_ext; print(xmpp_ext.__file__)"
    result = run([str(fresh_project / "venv/bin/python"), "-c", where], fresh_project, 30)
    assert result.stdout.startswith(str(fresh_project / "venv")), result.stdout + result.stderr


def test_readme_example_passes_on_prosody_and_ejabberd(fresh_project):
    result = run(
        [str(fresh_project / "venv/bin/pytest"), "-p", "no:cacheprovider", "-rA", "--xmpp-server", "all"],
        fresh_project,
        RUN_TIMEOUT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for kind in ("ejabberd", "prosody"):
        assert f"PASSED tests/{EXAMPLE_NAME}::test_example_tag_iq_between_two_clients[{kind}]" in result.stdout
    assert "2 passed" in result.stdout


def test_readme_example_passes_under_xdist_with_a_server_per_worker(fresh_project):
    """Two workers, each starting both servers: their ports must not get mixed up."""
    copy = fresh_project / "tests" / "test_second_copy.py"
    copy.write_text(example_test())
    try:
        result = run(
            [str(fresh_project / "venv/bin/pytest"), "-p", "no:cacheprovider", "-n", "2", "--xmpp-server", "all"],
            fresh_project,
            RUN_TIMEOUT,
        )
    finally:
        copy.unlink()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "created: 2/2 workers" in result.stdout
    assert "4 passed" in result.stdout
