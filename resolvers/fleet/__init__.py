"""Organizations, shops, machines and their live cash inventory."""
