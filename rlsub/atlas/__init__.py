"""The difficulty atlas: protocol files, running a row, the exported table, CPU time records and the figure."""
