"""Drawing estimates onto images (used by the node's debug image and the tools)."""
