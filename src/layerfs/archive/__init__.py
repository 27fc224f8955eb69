"""archive room: see DESIGN.md."""
