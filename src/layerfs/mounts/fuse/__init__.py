"""mounts/fuse room: see DESIGN.md."""
