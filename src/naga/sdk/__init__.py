"""The Python SDK: runs recorded from inside a program, their metrics, params and artifacts."""
