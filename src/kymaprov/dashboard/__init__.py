"""The dashboard at each environment's ``dashboardUrl`` (``/dashboard/?kubeconfigID=<id>``).

Server-rendered pages for a platform user (the login ``btp`` uses): the global account's environments
with state and progress, an environment's operations and bindings with their expiry, and its runtime's
namespaces, workloads and events, read through the runtime's Kubernetes API as the service reads it.
"""
