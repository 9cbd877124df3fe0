"""Pure SPEC §4 math, no I/O: judging rounds, the state machine, episodes, gangguan tickets,
availability (with the maintenance rule), working hours, and RPO/RTO/drill arithmetic."""
