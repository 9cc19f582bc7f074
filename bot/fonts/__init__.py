"""The chart font shipped with the package (see build.py and OFL.txt)."""
