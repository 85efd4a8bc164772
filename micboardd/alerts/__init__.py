"""Alerts: rules over the live state (rules.py), raised as episodes by the engine
(engine.py), served over HTTP (api.py); the part (part.py) runs them."""

from micboardd.alerts.engine import AlertEngine
from micboardd.alerts.episodes import alert_id
from micboardd.alerts.part import AlertsPart, Journal
from micboardd.alerts.rules import RULES, Signal, merged_rule

__all__ = ["RULES", "AlertEngine", "AlertsPart", "Journal", "Signal", "alert_id",
           "merged_rule"]
