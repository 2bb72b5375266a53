"""The wheel pip builds from this tree: license, bundled payload, no packaging warnings."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_wheel_has_the_license_and_the_payload(tmp_path):
    # pip fetches the build backend (setuptools>=77) as scripts/setup's install did, from its cache if it can.
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--verbose", "--wheel-dir", str(tmp_path), str(REPO)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    output = built.stdout + built.stderr
    assert "absent from the `packages` configuration" not in output
    (wheel,) = tmp_path.glob("xmppext-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "xmpp_ext/data/test_example_tag.xml" in names
    # Every module of the tree is in the wheel (a package missing from the configuration would not be).
    modules = {path.relative_to(REPO).as_posix() for path in (REPO / "xmpp_ext").rglob("*.py")}
    assert modules - set(names) == set()
    licenses = [name for name in names if name.endswith(".dist-info/licenses/LICENSE")]
    assert len(licenses) == 1
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read(licenses[0]) == (REPO / "LICENSE").read_bytes()
        assert "License-Expression: MIT" in archive.read(licenses[0].replace("licenses/LICENSE", "METADATA")).decode()
