"""The services layer of the stack runner: specs, probes, the detached runner, foreground mode (see tools/README.md)."""
