"""Statistics over a node's subtree, from what the node holds, computed in SQL."""
