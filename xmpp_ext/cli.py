"""The ``xmppext`` command: parsing and presentation only; the jobs live in their own modules."""

from __future__ import annotations

import click

from xmpp_ext import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="xmppext")
def cli() -> None:
    """Build, send, answer and inspect the example_tag XMPP extension."""


def main() -> None:
    cli(prog_name="xmppext")
