"""The shared vocabulary of pantau: errors, clocks, durations, addresses, the Pedoman tables,
domain records, periods and scrubbing. Standard library only; every other package may import it."""
