"""Report rendering: the Markdown/CSV leaderboard now; HTML and LaTeX later (issue 8)."""
