"""Workflows: deterministic and small; they pass ids, never customer data or credentials.

Deliberately imports nothing: the sandbox re-imports a workflow's module (and so
this package) for every workflow run, so each run should load only its own module.
The worker lists the workflows it registers (``tgflow.worker.WORKFLOWS``).
"""
