"""oci room: see DESIGN.md."""
