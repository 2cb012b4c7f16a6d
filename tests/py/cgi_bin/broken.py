"""A CGI script that fails before it writes its headers."""
import sys

sys.stderr.write("broken on purpose\n")
sys.exit(3)
