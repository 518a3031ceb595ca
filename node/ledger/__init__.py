"""The clue transfer ledger (移交台账): clues handed to departments, tracked to closing off."""
