"""Case-secret release (DESIGN §5): access requests, approvals, grants, released content."""
