"""Errors of the local infrastructure runner.

InfraError
├── JavaNotFound          no `java` executable (Java 17+) on PATH or in JAVA_HOME
├── ArtifactsUnavailable  Maven could not resolve a component's jars
└── ComponentError        one component failed; the message names its log file
    ├── ComponentExited   the JVM exited while we waited for it to become ready
    ├── ComponentTimeout  not ready before its deadline
    └── PortBusy          its port is taken by a process we did not start
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar


class InfraError(Exception):
    """Root of the runner's errors."""

    retriable: ClassVar[bool] = False


class JavaNotFound(InfraError):
    """No usable `java` executable."""


class ArtifactsUnavailable(InfraError):
    """Maven could not resolve the jars of a component."""

    retriable = True


class ComponentError(InfraError):
    """A component failed to start or stop; carries the component name and its log file."""

    def __init__(self, component: str, reason: str, log_file: Path) -> None:
        super().__init__(f"{component}: {reason} (see log {log_file})")
        self.component = component
        self.log_file = log_file


class ComponentExited(ComponentError):
    """The component's JVM exited before it became ready."""


class ComponentTimeout(ComponentError):
    """The component did not become ready before its deadline."""

    retriable = True


class PortBusy(ComponentError):
    """The component's port is already bound by a process the runner did not start."""
