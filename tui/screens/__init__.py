"""One screen per module; tui/app.py wires them into modes and key bindings."""
