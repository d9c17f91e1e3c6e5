"""The embedded Kubernetes-compatible API server that plays every Kyma runtime.

``app.create_app`` serves all clusters under ``/clusters/<id>`` on one HTTPS port; the clusters
themselves (creation, TLS, deletion) are ``kymaprov.backends.embedded.EmbeddedRuntimes``, the
``RuntimeBackend`` that uses this server. Domain modules (``objects``, ``rbac``, ``tokens``, ``auth``)
know nothing of HTTP; nothing here imports the Provisioning Service or the backends.
"""
