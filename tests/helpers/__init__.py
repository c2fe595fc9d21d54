"""Helpers every test suite shares (``from helpers import ...``; tests/ is on sys.path).

- ``free_port``, ``wait_until``: loopback ports, polling with a timeout (``polling.py``)
- ``shared_fixture``: a path in ../shared/fixtures, failing loudly when missing
  (``fixtures.py``)
- ``require_tool``: a program setup.sh installs, failing loudly when missing (``tools.py``)
- ``eventhubs_double.EventHubsDouble``: an Azure Event Hubs namespace on loopback (AMQP 1.0
  on Qpid Proton), for the sidekick output and the k8saudit-aks source (imported as
  ``from helpers.eventhubs_double import EventHubsDouble``)

Helpers of one suite stay next to it (``tests/app/helpers.py``, ``tests/deploy/helpers.py``,
``tests/sources/syscall/syscall_testutil.py``, ...).
"""

from helpers.fixtures import SHARED_FIXTURES, MissingFixture, shared_fixture
from helpers.polling import free_port, wait_until
from helpers.tools import missing, require_tool

__all__ = [
    "SHARED_FIXTURES",
    "MissingFixture",
    "free_port",
    "missing",
    "require_tool",
    "shared_fixture",
    "wait_until",
]
