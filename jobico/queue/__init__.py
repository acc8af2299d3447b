"""The durable queue: backends (file, memory), group commit, and the queue component."""
