"""Devices and drones for demo and CI. They speak only the public contract over real sockets
and encode payloads independently of our decoders, so they check them."""
