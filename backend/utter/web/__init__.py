"""The HTML pages, rendered with Jinja2; their scripts and styles live in /static."""
