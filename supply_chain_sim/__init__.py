"""Supplier -> transport -> incoming inspection -> assembly -> field flows (see issue 9)."""
