"""A local Genesys-compatible API serving deterministic synthetic traffic, with switchable faults."""

from extraction.platforms.genesys.sandbox.server import SandboxHandle, start_sandbox

__all__ = ["SandboxHandle", "start_sandbox"]
