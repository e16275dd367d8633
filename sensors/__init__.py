"""MQTT sensor collection: topic routing, payload decoders and the paho-mqtt collector."""
