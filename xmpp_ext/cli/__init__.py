"""The ``xmppext`` command: a root group that imports a command's module only when that command runs.

Parsing and presentation only; the jobs (sender, responder, disco, pair,
localserver) live in their own modules. Each command is the ``command`` of its
module in this package; shared options are in ``options.py``, the mapping of
outcomes and errors to exit codes in ``outcome.py``.
"""

from __future__ import annotations

import click

from xmpp_ext import __version__
from xmpp_ext.cli.lazy import LazyGroup

#: Command name -> the module whose ``command`` it is.
COMMANDS = {
    "send": "xmpp_ext.cli.send",
    "respond": "xmpp_ext.cli.respond",
    "disco": "xmpp_ext.cli.disco",
    "run-pair": "xmpp_ext.cli.run_pair",
    "local-server": "xmpp_ext.cli.local_server",
    "scenario": "xmpp_ext.cli.scenario",
    "fault-proxy": "xmpp_ext.cli.fault_proxy",
    "load": "xmpp_ext.cli.load",
    "record": "xmpp_ext.cli.record",
}


@click.group(
    cls=LazyGroup,
    lazy_commands=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="xmppext")
def cli() -> None:
    """Test your own XMPP stanza extension on real servers; send and answer the bundled example_tag.

    \b
    For any extension:
      scenario          Scansion scripts on Prosody and ejabberd, your bot
                        started beside each run (--responder), differences
                        side by side
      send --raw        your payload in an iq or message, the reply printed
      respond --plugin  your slixmpp plugin as the responder
      run-pair --responder-cmd
                        the sender paired with your own bot
      disco             ask any entity what it supports (--has: exit code)
      fault-proxy       cut and stall connections, to rehearse a dropped link
      local-server      a throwaway server, its accounts in a .env file
      and the pytest plugin (installed with xmppext): real servers, clients,
      a fault proxy, and *.scs scripts as tests.
    \b
    Without those options, send, respond and run-pair exercise the bundled
    example_tag extension.
    Walkthrough: docs/test-your-own-extension.md in the source repository.
    """


def main() -> None:
    cli(prog_name="xmppext")
