"""`taskmanager audit`: dead handlers, broken or drifting endpoints, unused code, old files."""
