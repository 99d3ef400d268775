"""HTTP routes: the JSON API under /api and stored files under /uploads."""
