"""Citizen business: applications, complaints, corrections, fines, letters, catalogue search."""
