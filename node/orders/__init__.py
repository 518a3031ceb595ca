"""Directed relay-inspection orders (接力式巡视巡察联动): issued downward, tracked per addressee."""
