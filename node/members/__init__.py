"""Certified membership held in the database: certificates learned from the federation, their
envelopes (``member-certificate``) and the members listing (DESIGN §11, issue 12)."""
