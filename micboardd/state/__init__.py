"""The state: the store that owns it, the contract it keeps, the rules for a channel's
status, and the merge patches that carry its changes."""

from micboardd.state.contract import JSON, LINK_STATES, STATUSES, empty_channel
from micboardd.state.mergepatch import diff_into, merge_into, merge_patches
from micboardd.state.remote import put_remote, put_remote_channel, put_remote_device
from micboardd.state.store import Store, Subscriber

__all__ = [
    "JSON", "LINK_STATES", "STATUSES", "Store", "Subscriber", "diff_into", "empty_channel",
    "merge_into", "merge_patches", "put_remote", "put_remote_channel",
    "put_remote_device",
]
