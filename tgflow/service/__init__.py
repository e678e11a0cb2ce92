"""Client-side operations the CLI and ``tgflow dev`` share (start, signal, schedule)."""
