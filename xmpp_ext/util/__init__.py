"""Small helpers that know nothing of XMPP.

Display, secrets, environment names, .env files, logs, stop signals, child processes, exit codes.
"""
