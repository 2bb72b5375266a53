"""A program under test for ``scenario --responder``, with switches for each way one can behave.

    python scenario_bot.py [--no-ready] [--no-presence] [--exit-at-start] [--exit-after-ready]
                           [--ignore-sigterm] [--pid-file PATH]

It logs in with the XMPPEXT_* variables (as ``--responder`` hands them over),
answers pings (XEP-0199), and stops on SIGTERM. ``--pid-file`` records its process id, so
a test can check it is gone afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import ssl
import sys

import slixmpp


async def main(options: argparse.Namespace) -> int:
    # Signals first: once the pid file exists, a test may signal the bot and count on how it answers.
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        if signum == signal.SIGTERM and options.ignore_sigterm:
            signal.signal(signum, signal.SIG_IGN)
        else:
            asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    if options.pid_file:
        with open(options.pid_file, "w") as handle:
            handle.write(str(os.getpid()))
    if options.exit_at_start:
        print("cannot start: a broken configuration", flush=True)
        return 4
    ca = os.environ.get("XMPPEXT_CA_CERT")
    bot = slixmpp.ClientXMPP(
        os.environ["XMPPEXT_JID"],
        os.environ["XMPPEXT_PASSWORD"],
        ssl_context=ssl.create_default_context(cafile=ca) if ca else None,
    )
    bot.enable_direct_tls = False
    bot.register_plugin("xep_0199")

    def started(_event: object) -> None:
        if not options.no_presence:
            bot.send_presence()
        if not options.no_ready:
            print(f"READY {bot.boundjid}", flush=True)
        if options.exit_after_ready:
            print("giving up at once", flush=True)
            os._exit(5)

    bot.add_event_handler("session_start", started)
    bot.connect(os.environ["XMPPEXT_HOST"], int(os.environ["XMPPEXT_PORT"]))
    await stop.wait()
    await bot.disconnect()
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    for flag in ("--no-ready", "--no-presence", "--exit-at-start", "--exit-after-ready", "--ignore-sigterm"):
        parser.add_argument(flag, action="store_true")
    parser.add_argument("--pid-file")
    sys.exit(asyncio.run(main(parser.parse_args())))
