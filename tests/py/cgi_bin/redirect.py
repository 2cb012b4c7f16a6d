"""A CGI script that redirects (Location → 302)."""
print("Location: /elsewhere")
print()
