"""A minimal Kubernetes API client: what KEB needs to make and revoke bindings on any cluster."""
