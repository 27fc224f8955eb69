"""runtime room: see DESIGN.md."""
