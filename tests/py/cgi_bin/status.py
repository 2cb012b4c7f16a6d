"""A CGI script that sets its status."""
print("Status: 404 Not Here")
print("Content-Type: text/plain")
print()
print("nope", end="")
