"""The embedded Kubernetes-compatible API server that plays every Kyma runtime.

``backend.EmbeddedRuntimes`` creates and deletes clusters (the ``RuntimeBackend`` seam) and owns TLS;
``app.create_app`` serves all clusters under ``/clusters/<id>`` on one HTTPS port. Domain modules
(``objects``, ``rbac``, ``tokens``, ``auth``) know nothing of HTTP.
"""
