"""Sparkplug B in and out: the edge as a Sparkplug edge node (:mod:`.node`), a host that stores any edge
node's data in our historian (:mod:`.host`), the payload schema (:mod:`.schema`), topics and values."""
