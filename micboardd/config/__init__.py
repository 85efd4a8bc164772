"""Configuration: the models (:mod:`.models`) and loading files (:mod:`.load`)."""

from micboardd.config.env import Override
from micboardd.config.load import (
    EX_CONFIG,
    ConfigError,
    env_overrides,
    load_config,
    parse_config,
    problems,
)
from micboardd.config.models import (
    AlertRule,
    AlertsConfig,
    Config,
    DeviceConfig,
    GroupConfig,
    HistoryConfig,
    HttpConfig,
    MqttConfig,
    SlotConfig,
    StatusConfig,
    TokenConfig,
    state_dir_of,
)

__all__ = [
    "EX_CONFIG",
    "AlertRule",
    "AlertsConfig",
    "Config",
    "ConfigError",
    "DeviceConfig",
    "GroupConfig",
    "HistoryConfig",
    "HttpConfig",
    "MqttConfig",
    "Override",
    "SlotConfig",
    "StatusConfig",
    "TokenConfig",
    "env_overrides",
    "load_config",
    "parse_config",
    "problems",
    "state_dir_of",
]
