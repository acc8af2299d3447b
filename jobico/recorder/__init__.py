"""Execution records: append-only segments, an index rebuilt on start, queries and follow.

``store.Store`` is the synchronous core (files + index); ``service.RecorderService``
puts it behind RPC with group commit, follow streams and the retention sweep.
"""
