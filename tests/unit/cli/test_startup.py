"""The console script's start-up trims (xmpp_ext.startup): same behaviour, fewer imports."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from xmpp_ext.startup import dist_info_version


def run_python(code: str, *flags: str) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter: start-up effects need a process of their own."""
    return subprocess.run(
        [sys.executable, *flags, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60, check=True
    )


def test_slixmpp_version_is_the_installed_one_without_importlib_metadata():
    probe = run_python(
        """
        import json, sys
        from xmpp_ext.startup import defer_slow_imports
        defer_slow_imports()
        import slixmpp
        skipped = "importlib.metadata" not in sys.modules
        from importlib.metadata import version
        print(json.dumps([skipped, slixmpp.__version__, list(slixmpp.__version_info__), version("slixmpp")]))
        """
    )
    skipped, ours, info, installed = json.loads(probe.stdout)
    assert skipped
    assert ours == installed
    assert info == [int(part) for part in installed.split(".")[:3]]


def test_aiodns_is_loaded_only_when_slixmpp_resolves_through_it():
    probe = run_python(
        """
        import asyncio, json, sys
        from xmpp_ext.startup import defer_slow_imports
        defer_slow_imports()
        import slixmpp
        from slixmpp.xmlstream import resolver
        before = "pycares" in sys.modules

        async def make():
            return type(resolver.default_resolver(asyncio.get_running_loop())).__module__

        made = asyncio.run(make())
        print(json.dumps([before, resolver.AIODNS_AVAILABLE, made, "pycares" in sys.modules]))
        """
    )
    before, available, resolver_module, after = json.loads(probe.stdout)
    assert not before
    assert available  # slixmpp still sees aiodns and uses it for SRV lookups
    assert resolver_module.startswith("aiodns")
    assert after


def test_nothing_is_deferred_once_slixmpp_is_imported():
    probe = run_python(
        """
        import sys
        import slixmpp
        real = sys.modules["aiodns"]
        from xmpp_ext.startup import defer_slow_imports
        defer_slow_imports()
        print(sys.modules["aiodns"] is real)
        """
    )
    assert probe.stdout.strip() == "True"


def test_console_script_leaves_the_collector_enabled():
    probe = run_python(
        """
        import gc, sys
        from xmpp_ext.startup import main
        sys.argv = ["xmppext", "--version"]
        try:
            main()
        except SystemExit as exit:
            print(exit.code, gc.isenabled(), gc.get_freeze_count() > 0)
        """
    )
    assert probe.stdout.split()[-3:] == ["0", "True", "True"]
    assert "xmppext" in probe.stdout


def test_send_help_imports_neither_importlib_metadata_nor_aiodns():
    probe = run_python(
        """
        import sys
        from xmpp_ext.startup import main
        sys.argv = ["xmppext", "send", "--help"]
        main()
        """,
        "-X",
        "importtime",
    )
    imported = {line.rsplit("|", 1)[-1].strip() for line in probe.stderr.splitlines() if "|" in line}
    assert "slixmpp" in imported  # the probe itself is sound
    assert "importlib.metadata" not in imported
    assert "pycares" not in imported
    assert "--kind" in probe.stdout


def write_dist_info(site: Path, name: str, metadata: str) -> None:
    (site / name).mkdir()
    (site / name / "METADATA").write_text(metadata)


def test_dist_info_version_reads_the_one_distribution(tmp_path: Path):
    write_dist_info(
        tmp_path, "slixmpp-1.17.0.dist-info", "Metadata-Version: 2.1\nName: slixmpp\nVersion: 1.17.0\n\nbody"
    )
    write_dist_info(tmp_path, "slixmpp_extra-2.0.dist-info", "Name: other\nVersion: 2.0\n")
    assert dist_info_version(str(tmp_path), "slixmpp") == "1.17.0"


def test_dist_info_version_is_unsure_with_two_or_none(tmp_path: Path):
    assert dist_info_version(str(tmp_path), "slixmpp") is None
    assert dist_info_version(str(tmp_path / "missing"), "slixmpp") is None
    write_dist_info(tmp_path, "slixmpp-1.17.0.dist-info", "Name: slixmpp\nVersion: 1.17.0\n")
    write_dist_info(tmp_path, "slixmpp-1.16.0.dist-info", "Name: slixmpp\nVersion: 1.16.0\n")
    assert dist_info_version(str(tmp_path), "slixmpp") is None


def test_dist_info_version_stops_at_the_end_of_the_headers(tmp_path: Path):
    write_dist_info(tmp_path, "slixmpp-1.17.0.dist-info", "Name: slixmpp\n\nVersion: 9.9.9 (in the description)\n")
    assert dist_info_version(str(tmp_path), "slixmpp") is None


def test_deferred_module_is_imported_once_even_for_missing_names():
    probe = run_python(
        """
        import sys
        from xmpp_ext.startup import defer_slow_imports
        defer_slow_imports()
        import aiodns
        stand_in = sys.modules["aiodns"]
        misses = 0
        for _ in range(2):
            try:
                aiodns.no_such_name
            except AttributeError:
                misses += 1
        real = sys.modules["aiodns"]
        print(misses, real is not stand_in, sys.modules["aiodns"] is real, aiodns.DNSResolver is real.DNSResolver)
        """
    )
    assert probe.stdout.split() == ["2", "True", "True", "True"]


def test_ctrl_c_while_importing_is_one_line_and_130():
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, xmpp_ext.startup as startup\n"
            "def interrupted(arguments):\n"
            "    raise KeyboardInterrupt\n"
            "startup.import_command_module = interrupted\n"
            "sys.argv = ['xmppext', 'send']\n"
            "startup.main()\n",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.returncode == 130
    assert probe.stderr == "interrupted (SIGINT)\n"
