"""The broker's address and credentials, from ``mqtt.url`` and the explicit fields."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from aiomqtt import TLSParameters

from micboardd.config import MqttConfig


def broker_params(cfg: MqttConfig) -> dict[str, Any]:
    """Client keyword arguments from the URL (user info there is overridden by the
    explicit ``username``/``password`` fields)."""
    u = urlsplit(cfg.url)
    tls = cfg.tls or u.scheme == "mqtts"
    username = cfg.username if cfg.username is not None else (
        unquote(u.username) if u.username else None)
    password = cfg.password.get_secret_value() if cfg.password is not None else (
        unquote(u.password) if u.password else None)
    return {
        "hostname": u.hostname or "localhost",
        "port": u.port or (8883 if tls else 1883),
        "username": username,
        "password": password,
        "tls_params": TLSParameters(ca_certs=cfg.ca_file) if tls else None,
    }
