"""``python -m jobico.recorder.redis_inbox records``: the main node's intake of remote records."""

from jobico.component import main
from jobico.recorder.redis_records import RecordInbox

if __name__ == "__main__":
    main("records", RecordInbox)
