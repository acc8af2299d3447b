"""``python -m jobico.recorder.redis_relay recorder``: the ``RecordRelay`` of an executor-only node."""

from jobico.component import main
from jobico.recorder.redis_records import RecordRelay

if __name__ == "__main__":
    main("recorder", RecordRelay)
