"""The HTTP and websocket server on one port: the dashboard, the REST API, /ws fan-out,
/metrics and /healthz. It knows the daemon only as :class:`~.context.DaemonView`."""

from micboardd.server.app import make_app, reconfigure
from micboardd.server.context import DAEMON, DaemonView, LayoutNotSaved, LinkView, Metric
from micboardd.server.endpoints import Endpoint
from micboardd.server.hub import Hub
from micboardd.server.limits import LIMITS, LimitedSite, raise_fd_limit

__all__ = ["DAEMON", "LIMITS", "DaemonView", "Endpoint", "Hub", "LayoutNotSaved", "LimitedSite",
           "LinkView", "Metric", "make_app", "raise_fd_limit", "reconfigure"]
