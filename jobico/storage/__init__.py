"""What the queue's and the recorder's files have in common: frames, and reading them back."""
