"""Rectification to closure (整改): demands from a finding, the unit's report, evaluation, 销号."""
