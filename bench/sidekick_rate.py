"""Alerts/s accepted by `lanner sidekick` and delivered to a local keep-alive webhook.

Run: .venv/bin/python bench/sidekick_rate.py [--alerts N] [--spool] [--concurrency C]
(the benchmark itself lives in lanner.services.sidekick.bench).
"""

from __future__ import annotations

from lanner.services.sidekick.bench import main

if __name__ == "__main__":
    main()
