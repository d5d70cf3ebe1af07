"""Agent version, sent in every batch as ``agent_version``."""

AGENT_VERSION = "0.1.0"
