"""Load generator: many users, a realistic order mix, through the gateway's batch/stream order entry.

`python -m tools.loadgen --help` (CLI, `__main__.py`); as a library: `run.LoadRun` (users, watchers, driver,
drain, numbers) and `driver.LoadDriver` (the steady-load driver the crash drills use). See tools/loadgen/README.md.
"""
