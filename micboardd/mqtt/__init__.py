"""MQTT: the state on a broker for Home Assistant, Companion and other stages.

topics.py the topic tree; broker.py the broker's address; publish.py what is owed to the
broker; discovery.py Home Assistant discovery; commands.py commands over MQTT; remote.py
the subscriber side: other sites' channels on this dashboard; bridge.py the connection
that ties them together; part.py its lifecycle. bridge.py and broker.py (aiomqtt) are
imported by the part only when a broker is configured, so they are not re-exported here.
"""

from micboardd.mqtt.commands import parse_command
from micboardd.mqtt.discovery import SENSORS
from micboardd.mqtt.part import MqttPart
from micboardd.mqtt.remote import RemoteSites
from micboardd.mqtt.topics import Topics

__all__ = ["SENSORS", "MqttPart", "RemoteSites", "Topics", "parse_command"]
