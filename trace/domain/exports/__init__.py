"""Exports in open standards: GS1 EPCIS 2.0 JSON-LD, and the spreadsheet of critical tracking
events and key data elements regulators ask for."""
