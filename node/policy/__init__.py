"""Access control: the one Casbin enforcer and the SQL filters derived from the same policy."""

from node.policy.actor import ROLES, Actor
from node.policy.categories import CLASSES, Category, CategoryTable, load_categories
from node.policy.enforcer import PolicyEngine

__all__ = [
    "CLASSES",
    "ROLES",
    "Actor",
    "Category",
    "CategoryTable",
    "PolicyEngine",
    "load_categories",
]
