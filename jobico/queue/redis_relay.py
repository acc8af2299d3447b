"""``python -m jobico.queue.redis_relay recorder``: an executor-only node's recorder (``redis_records``)."""

from jobico.component import main
from jobico.queue.redis_records import RecordRelay

if __name__ == "__main__":
    main("recorder", RecordRelay)
