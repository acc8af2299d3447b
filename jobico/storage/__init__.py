"""The storage engine the queue and the recorder share: append-only files of framed records.

- ``frames``: a record on disk (length, CRCs, msgpack), and reading a file's frames back;
  one size limit per store, given to writer and reader alike;
- ``files``: appends that go in whole or not at all, one sync for many files, cut back
  after a failed sync;
- ``segments``: a log as numbered files, rolled over when full, deleted whole;
- ``recovery``: reading a store's files on open (damage skipped and reported, torn tail cut);
- ``commit``: group commit, and the one policy when a sync fails.

Each store keeps its own record kinds and what it indexes: ``queue/log_records.py`` and
``queue/file_journal.py``, ``recorder/frames.py`` and ``recorder/store.py``.
"""
