"""repo: the tenant files — watched, hashed, served and uploaded atomically."""
