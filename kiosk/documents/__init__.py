"""Offline verification of secured documents."""
