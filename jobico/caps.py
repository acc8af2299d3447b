"""The platform's hard caps (SPEC §3, §4), defined once for every component.

A cap that a writer and a reader both rely on (a record the executor builds and
the recorder stores, a frame the queue writes and later reads back) must be the
same number on both sides, or the reader refuses what the writer was allowed
to write. So each such figure lives here and nowhere else.
"""

from __future__ import annotations

KIB = 1024
MIB = 1024 * KIB

# Guest output, per run (SPEC §4): the excess is truncated and flagged.
MAX_RESULT_BYTES = 1 * MIB
MAX_LOG_BYTES = 1 * MIB
MAX_LOG_LINES = 10_000
# One execution record, encoded (SPEC §4): never larger than this.
MAX_RECORD_BYTES = 4 * MIB

# Tenant files (SPEC §1): bigger ones are a load error of their package.
MAX_WASM_BYTES = 64 * MIB
MAX_SCHEMA_BYTES = 4 * MIB
MAX_PACKAGE_BYTES = 1 * MIB

# The webhook (SPEC §3).
DEFAULT_MAX_ITEMS = 10_000
MAX_SCHEMA_ERRORS = 100
