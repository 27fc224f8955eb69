"""union room: see DESIGN.md."""
