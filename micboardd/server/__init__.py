"""The HTTP and websocket server on one port: the dashboard, the REST API, /ws fan-out,
/metrics and /healthz. It knows the daemon only as :class:`~.context.DaemonView`."""

from micboardd.server.app import make_app, reconfigure
from micboardd.server.context import DAEMON, DaemonView, LayoutNotSaved, LinkView, Metric
from micboardd.server.endpoints import Endpoint
from micboardd.server.hub import Hub

__all__ = ["DAEMON", "DaemonView", "Endpoint", "Hub", "LayoutNotSaved", "LinkView", "Metric",
           "make_app", "reconfigure"]
