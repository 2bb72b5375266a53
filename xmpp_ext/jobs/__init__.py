"""What each command does (send, respond, run-pair, disco), returning results; never exit codes."""
