"""A CGI script in a subdirectory."""
import os

print("Content-Type: text/plain")
print()
print("deeper " + os.environ.get("SCRIPT_NAME", "") + " " + os.environ.get("PATH_INFO", "-"), end="")
