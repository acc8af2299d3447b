"""ctl: job packages parsed and validated into a versioned catalog."""
