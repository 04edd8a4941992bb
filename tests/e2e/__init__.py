"""Browser end-to-end tests of the dashboard (Playwright driving Debian's Chromium)."""
