"""Local infrastructure (Kafka, Cassandra, the Aeron media driver): see tools/infra/README.md.

Addresses other code needs, importable without side effects: `aeron_dir()` (honours $AERON_DIR),
`KAFKA_BOOTSTRAP`, `CQL_HOST`, `CQL_PORT`, `CQL_KEYSPACE`.
"""

from tools.infra.layout import CQL_KEYSPACE, CQL_PORT, KAFKA_BOOTSTRAP, aeron_dir
from tools.infra.layout import HOST as CQL_HOST

__all__ = ["CQL_HOST", "CQL_KEYSPACE", "CQL_PORT", "KAFKA_BOOTSTRAP", "aeron_dir"]
