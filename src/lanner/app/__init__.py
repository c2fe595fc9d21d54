"""The detection daemon: configuration, run loop, outputs and the `lanner run` command."""
