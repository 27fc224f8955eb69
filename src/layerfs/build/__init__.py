"""build room: see DESIGN.md."""
