"""MAVLink 2 test peers: an ArduCopter and a PX4 stand-in, written from the autopilots' sources.

``from tests.peers.ardupilot import ArduCopterPeer`` / ``from tests.peers.px4 import PX4Peer``.
SOURCES.md names the autopilot function behind each rule the peers follow.
"""

import os

# pymavlink picks its wire protocol when it is first imported: set MAVLink 2 before the submodules do.
os.environ.setdefault("MAVLINK20", "1")
