"""mounts room: see DESIGN.md."""
