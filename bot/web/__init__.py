"""Static files of the web simulator and dashboard (HTML, JS, CSS; no build step)."""
