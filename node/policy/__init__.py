"""Access control: the one Casbin enforcer and the SQL filters derived from the same policy."""

from node.policy.categories import CLASSES, Category, CategoryTable, load_categories
from node.policy.enforcer import Actor, PolicyEngine

__all__ = ["CLASSES", "Actor", "Category", "CategoryTable", "PolicyEngine", "load_categories"]
