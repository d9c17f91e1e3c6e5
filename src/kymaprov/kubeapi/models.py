"""Tables of the embedded runtimes: one row per cluster, one row per Kubernetes object, and each
cluster's change log (``kube_events``, one row per write: what watch and list pages read).

Portable SQLAlchemy Core (SQLite and PostgreSQL); times are integer milliseconds, bodies JSON text
(sealed for kinds marked ``sealed``, such as Secrets; see ``ObjectStore``).
Secrets (CA and serving keys, the ServiceAccount signing key, the admin token) are sealed with the
installation's master key; certificates are public and stored as PEM. A deleted cluster leaves a
tombstone (``deleted_ms``) with every secret but the serving key wiped.
"""

from __future__ import annotations

import sqlalchemy as sa

from kymaprov.store import metadata

clusters = sa.Table(
    "kube_clusters",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("ca_cert", sa.Text, nullable=False),  # PEM, public
    sa.Column("ca_key", sa.Text, nullable=False),  # sealed PEM
    sa.Column("serving_cert", sa.Text, nullable=False),  # PEM, signed by ca_cert
    sa.Column("serving_key", sa.Text, nullable=False),  # sealed PEM
    sa.Column("sa_signing_key", sa.Text, nullable=False),  # sealed PEM (ES256)
    sa.Column("admin_token_fp", sa.String(64), nullable=False, index=True),
    sa.Column("admin_token", sa.Text, nullable=False),  # sealed, so create_cluster stays idempotent
    sa.Column("resource_version", sa.BigInteger, nullable=False),  # last issued resourceVersion
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    # set when deleted: the row stays as a tombstone holding only the serving certificate, so old
    # kubeconfigs still complete the TLS handshake and get a clean 401 instead of a TLS error
    sa.Column("deleted_ms", sa.BigInteger, nullable=True),
)

LIVE = clusters.c.deleted_ms.is_(None)


def equals(column: sa.Column[str], value: str) -> sa.ColumnElement[bool]:
    """``column == value``, or false for a value with NUL: PostgreSQL refuses NUL in a text parameter,
    and no stored id, name or namespace holds one (validation refuses it), so nothing would match."""
    return column == value if "\x00" not in value else sa.false()


objects = sa.Table(
    "kube_objects",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("cluster_id", sa.String(64), nullable=False),
    sa.Column("api_group", sa.String(253), nullable=False),  # "" for the core group
    sa.Column("resource", sa.String(63), nullable=False),  # plural, e.g. "pods"
    sa.Column("namespace", sa.String(253), nullable=False),  # "" for cluster-scoped objects
    sa.Column("name", sa.String(253), nullable=False),
    sa.Column("uid", sa.String(36), nullable=False),
    sa.Column("resource_version", sa.BigInteger, nullable=False),
    sa.Column("created_rv", sa.BigInteger, nullable=False),  # resourceVersion at creation (for watch)
    sa.Column("body", sa.Text, nullable=False),  # the full object as JSON, or sealed (SEALED_PREFIX)
    sa.UniqueConstraint("cluster_id", "api_group", "resource", "namespace", "name", name="uq_kube_objects"),
    sa.Index("ix_kube_objects_list", "cluster_id", "api_group", "resource", "namespace"),
)

change_log = sa.Table(
    "kube_events",
    metadata,
    # The change log of every cluster, what watch and consistent list pages read: one row per write,
    # appended in the write's own transaction, so row ``resource_version`` N exists for every N the
    # cluster issued since its compaction point (the smallest retained version minus one).
    sa.Column("cluster_id", sa.String(64), nullable=False),
    sa.Column("resource_version", sa.BigInteger, nullable=False),  # the version the write produced
    sa.Column("api_group", sa.String(253), nullable=False),
    sa.Column("resource", sa.String(63), nullable=False),
    sa.Column("namespace", sa.String(253), nullable=False),
    sa.Column("name", sa.String(253), nullable=False),
    sa.Column("type", sa.String(16), nullable=False),  # ADDED, MODIFIED, DELETED
    # the object as written (a DELETED event: its last state with the delete's version), and its state
    # before the write (MODIFIED and DELETED): watchers with selectors and list snapshots need both;
    # sealed like the object's own row
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("prev_body", sa.Text, nullable=True),
    sa.Column("created_ms", sa.BigInteger, nullable=False),  # service clock, for time-based compaction
    sa.PrimaryKeyConstraint("cluster_id", "resource_version", name="pk_kube_events"),
)

controller_leases = sa.Table(
    "kube_controller_leases",
    metadata,
    # Which process runs a cluster's controllers (garbage collector, namespace controller): taken
    # and renewed by each pass with work, with an atomic ``UPDATE ... WHERE expires_ms < now OR
    # holder = me`` (wall time, as the lifecycle worker's leases); see ``kubeapi/controllers``.
    sa.Column("cluster_id", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(64), nullable=False),
    sa.Column("expires_ms", sa.BigInteger, nullable=False),
)
