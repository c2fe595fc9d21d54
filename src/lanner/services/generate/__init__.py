"""``lanner generate``: actions that trigger Lanner's default rules, and a harness that proves
a running ``lanner run`` detects them (``list``, ``run``, ``test``, ``bench``)."""
