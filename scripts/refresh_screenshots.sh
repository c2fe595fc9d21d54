#!/usr/bin/env bash
# Refresh the UI screenshots in docs/screenshots on purpose: the browser tests write them
# there only when LANNER_SCREENSHOTS says so (a plain test run uses a temporary folder).
set -euo pipefail
cd "$(dirname "$0")/.."
LANNER_SCREENSHOTS="$PWD/docs/screenshots" .venv/bin/pytest -q -p no:cacheprovider \
    tests/services/ui/test_ui_browser.py -k "test_dashboard or test_events_filter_search_and_paging"
git status --short docs/screenshots
