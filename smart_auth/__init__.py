"""SMART App Launch 2.x authorization: tokens in, one AccessContext per request out."""
