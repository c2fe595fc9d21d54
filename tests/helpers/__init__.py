"""Helpers every test suite shares (``from helpers import ...``; tests/ is on sys.path).

- ``free_port``, ``wait_until``: loopback ports, polling with a timeout (``polling.py``)
- ``shared_fixture``: a path in ../shared/fixtures, failing loudly when missing
  (``fixtures.py``)
- ``require_tool``: a program setup.sh installs, failing loudly when missing (``tools.py``)
- ``lanner_process.LannerProcess``: ``lanner run`` with its JSON alerts read as they come
  (``until``, ``take``), its log in a file; ``metrics(port)``: its Prometheus text
- ``moto_server.moto_server``: AWS's APIs on loopback (moto in server mode), with
  ``aws_client`` and ``aws_env`` pointing boto3 and ``lanner run`` at it
- ``tcp_relay.TcpRelay``: a loopback TCP relay a test switches off (``down``) and on
  (``up``), the base of sidekick's ``Relay`` and the Event Hubs double's ``FrameRelay``
- ``eventhubs_double.EventHubsDouble``: an Azure Event Hubs namespace on loopback (AMQP 1.0
  on Qpid Proton), for the sidekick output and the k8saudit-aks source (imported as
  ``from helpers.eventhubs_double import EventHubsDouble``)
- ``grpc_double.GrpcDouble``: a gRPC server on loopback with one unary method of a Google
  API answering with Google's message types (sidekick's Pub/Sub and Cloud Functions
  outputs, the Container API of k8saudit-gke)
- ``pubsub_double.PubSubDouble``: Google Cloud Pub/Sub on loopback (Publisher/Publish and
  Subscriber StreamingPull, Pull, Acknowledge, ModifyAckDeadline, redelivery after the ack
  deadline), for the gcpaudit and k8saudit-gke sources and their generate actions

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
