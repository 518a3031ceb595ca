"""The category table (``policies/categories.csv``): each category's minimum class and label."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

CLASSES = ("general", "restricted", "secret")
CLASS_RANK = {name: rank for rank, name in enumerate(CLASSES)}
CLASS_LABELS = {
    "general": "一般基础性信息",
    "restricted": "限定知悉范围信息",
    "secret": "涉案类保密信息",
}


@dataclass(frozen=True)
class Category:
    code: str
    label_zh: str
    label_en: str
    min_class: str
    approvals: int


class CategoryTable:
    def __init__(self, categories: list[Category]) -> None:
        self._by_code = {c.code: c for c in categories}

    def get(self, code: str) -> Category | None:
        return self._by_code.get(code)

    def all(self) -> list[Category]:
        return list(self._by_code.values())

    def allows(self, code: str, classification: str) -> bool:
        """True if ``classification`` is at or above the category's minimum."""
        category = self._by_code[code]
        return CLASS_RANK[classification] >= CLASS_RANK[category.min_class]


def load_categories(path: Path) -> CategoryTable:
    categories: list[Category] = []
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["min_class"] not in CLASS_RANK:
                raise ValueError(f"category {row['code']}: unknown class {row['min_class']!r}")
            categories.append(
                Category(
                    code=row["code"],
                    label_zh=row["label_zh"],
                    label_en=row["label_en"],
                    min_class=row["min_class"],
                    approvals=int(row["approvals"]),
                )
            )
    return CategoryTable(categories)
