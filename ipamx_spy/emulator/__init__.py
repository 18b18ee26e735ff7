"""The dockerd emulator: plays docker commands against a plugin, byte for byte as dockerd.

``daemon.Daemon`` is the sans-IO core (a generator per docker command that yields the plugin
calls dockerd would make and receives dockerd's reading of each answer); ``driver`` runs it
against a socket or an in-process plugin, records the session and prints what ``docker`` would
have printed. ``docs/emulator.md`` describes the scenario format and the supported versions.
"""
