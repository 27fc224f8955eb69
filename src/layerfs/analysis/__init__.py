"""analysis room: see DESIGN.md."""
