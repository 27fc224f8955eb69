"""store room: see DESIGN.md."""
