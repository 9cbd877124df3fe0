"""``pantau …`` commands: one thin module per command group. Nothing imports this package
except the console script."""
