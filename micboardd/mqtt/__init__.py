"""MQTT: the state on a broker for Home Assistant, Companion and other stages.

topics.py the topic tree; broker.py the broker's address; publish.py what is owed to the
broker; discovery.py Home Assistant discovery; commands.py commands over MQTT; remote.py
the subscriber side: other sites' channels on this dashboard; bridge.py the connection
that ties them together; part.py its lifecycle.
"""

from micboardd.mqtt.bridge import MqttBridge
from micboardd.mqtt.broker import broker_params
from micboardd.mqtt.commands import parse_command
from micboardd.mqtt.discovery import SENSORS
from micboardd.mqtt.part import MqttPart
from micboardd.mqtt.remote import RemoteSites
from micboardd.mqtt.topics import Topics

__all__ = ["SENSORS", "MqttBridge", "MqttPart", "RemoteSites", "Topics", "broker_params",
           "parse_command"]
