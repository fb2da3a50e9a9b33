"""Card stage: run dir + eval -> Hugging Face model card. Entry: `write_card(cfg)`."""

from ereignis.card.card import build_card, write_card

__all__ = ["build_card", "write_card"]
