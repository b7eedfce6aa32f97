"""Voiso: the v2 CDR API (page/per_page + search_token) and the v4 reporting CDRs (cursor)."""
